# /tmp/speedbase/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto,avx-vnni,avx2 --threads 2 --runs 40 --stages clip.image_embed --json
# load before: 8.22 8.82 8.95
# load after: 9.40 9.03 9.02
