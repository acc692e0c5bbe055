# /tmp/tmp.DqoNhov7Mq/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8-dynamic,int8 --delegate none,xnnpack --threads 1 --runs 5 --max-time 10s --stages clip.text_embed,clip.zero_shot_cold,clip.zero_shot_cached --cache /tmp/edged-bench-cache --json
# load before: 7.71 7.51 7.47
# load after: 6.12 7.12 7.34
