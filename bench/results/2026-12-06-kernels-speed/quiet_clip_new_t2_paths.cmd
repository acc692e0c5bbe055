# /tmp/speednew/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni,avx2 --threads 2 --runs 40 --stages clip.image_embed --json
# load before: 1.36 4.54 7.93
# load after: 1.41 4.50 7.90
