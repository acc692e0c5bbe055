# /tmp/speednew/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto,avx-vnni,avx2 --threads 2 --runs 40 --stages clip.image_embed --json
# load before: 10.72 9.48 9.17
# load after: 10.87 9.54 9.19
