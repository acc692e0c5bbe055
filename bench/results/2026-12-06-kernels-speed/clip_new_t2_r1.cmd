# /tmp/speednew/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto,avx-vnni,avx2 --threads 2 --runs 40 --stages clip.image_embed --json
# load before: 9.40 9.03 9.02
# load after: 8.60 8.89 8.97
