# /tmp/tmp.josQCKUefQ/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision all --delegate none,xnnpack --threads 1,2 --runs 15 --max-time 300s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 7.31 7.63 6.57
# load after: 10.70 9.03 7.44
