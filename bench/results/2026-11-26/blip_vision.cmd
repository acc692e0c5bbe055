# /tmp/tmp.DqoNhov7Mq/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision all --delegate xnnpack --threads 1,2 --runs 5 --max-time 240s --stages blip.vision --cache /tmp/edged-bench-cache --json
# load before: 6.12 7.12 7.34
# load after: 4.39 5.29 6.47
