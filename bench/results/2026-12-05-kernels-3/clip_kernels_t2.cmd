# /tmp/tmp.7ZIDgw4wGO/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto,auto+bmm,avx-vnni,avx2 --threads 2 --runs 40 --max-time 300s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 2.64 2.95 3.39
# load after: 2.67 2.92 3.37
