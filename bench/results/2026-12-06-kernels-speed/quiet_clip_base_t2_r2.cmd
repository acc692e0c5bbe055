# /tmp/speedbase/bin/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto,auto+bmm --threads 2 --runs 100 --stages clip.image_embed --json
# load before: 1.63 4.98 8.20
# load after: 1.58 4.92 8.16
