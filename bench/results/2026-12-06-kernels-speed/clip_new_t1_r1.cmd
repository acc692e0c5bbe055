# /tmp/speednew/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels off,auto,avx-vnni,avx2 --threads 1 --runs 40 --stages clip.image_embed --json
# load before: 9.52 9.09 9.03
# load after: 10.78 9.43 9.15
