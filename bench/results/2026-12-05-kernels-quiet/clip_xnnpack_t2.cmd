# /tmp/tmp.YROlCus4aD/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels off --threads 2 --runs 20 --max-time 120s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 1.27 1.18 2.28
# load after: 1.25 1.18 2.28
