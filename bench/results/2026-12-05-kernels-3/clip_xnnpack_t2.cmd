# /tmp/tmp.7ZIDgw4wGO/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels off --threads 2 --runs 20 --max-time 120s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 3.62 3.26 3.46
# load after: 3.41 3.22 3.44
