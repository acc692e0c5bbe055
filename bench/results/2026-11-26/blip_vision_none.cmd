# /tmp/tmp.DqoNhov7Mq/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp32 --delegate none --threads 1,2 --runs 3 --stages blip.vision --cache /tmp/edged-bench-cache --json
# load before: 4.39 5.29 6.47
# load after: 5.40 5.39 6.43
