# /tmp/tmp.YROlCus4aD/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto,auto+bmm,avx-vnni,avx2 --threads 2 --runs 40 --max-time 300s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 0.72 1.10 2.33
# load after: 0.87 1.11 2.30
