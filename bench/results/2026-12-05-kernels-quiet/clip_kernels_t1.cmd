# /tmp/tmp.YROlCus4aD/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels off,auto,auto+bmm,avx-vnni,avx2 --threads 1 --runs 40 --max-time 300s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 0.17 1.13 2.43
# load after: 0.50 1.12 2.39
