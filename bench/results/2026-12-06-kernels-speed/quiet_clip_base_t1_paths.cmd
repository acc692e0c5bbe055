# /tmp/speedbase/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto,avx-vnni,avx2 --threads 1 --runs 40 --stages clip.image_embed --json
# load before: 1.41 4.77 8.08
# load after: 1.42 4.66 8.01
