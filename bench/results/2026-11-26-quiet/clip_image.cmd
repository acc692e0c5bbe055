# /tmp/benchlib/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision fp32,int8-dynamic,int8 --delegate none,xnnpack --threads 1,2 --runs 15 --max-time 120s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 0.41 2.27 3.99
# load after: 0.72 2.09 3.85
