# /tmp/speedbase/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni,avx2 --threads 2 --runs 40 --stages clip.image_embed --json
# load before: 1.39 4.60 7.97
# load after: 1.36 4.54 7.93
