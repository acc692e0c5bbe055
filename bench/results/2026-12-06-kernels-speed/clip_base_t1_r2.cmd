# /tmp/speedbase/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels off,auto,avx-vnni,avx2 --threads 1 --runs 40 --stages clip.image_embed --json
# load before: 10.87 9.54 9.19
# load after: 11.26 9.74 9.27
