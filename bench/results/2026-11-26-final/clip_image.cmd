# /tmp/tmp.UG3X4Dc20C/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision all --delegate none,xnnpack --threads 1,2 --runs 15 --max-time 300s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 2.25 3.42 5.05
# load after: 7.46 5.66 5.51
