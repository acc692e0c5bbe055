# /tmp/kx/edged-xnn2 (xnnpack-threads.patch) bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels off,auto,auto+bmm --threads 1,2 --runs 20 --stages clip.image_embed --json
# load before: 3.16 3.31 4.34
# load after: 3.33 3.33 4.21
