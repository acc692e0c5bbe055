# /tmp/tmp.7ZIDgw4wGO/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels off,auto,auto+bmm,avx-vnni,avx2 --threads 1 --runs 40 --max-time 300s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 1.66 3.01 3.45
# load after: 1.56 2.85 3.38
