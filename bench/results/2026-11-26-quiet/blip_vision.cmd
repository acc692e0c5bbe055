# /tmp/benchlib/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp32,int8 --delegate xnnpack --threads 1,2 --runs 5 --max-time 120s --stages blip.vision --cache /tmp/edged-bench-cache --json
# load before: 2.01 2.14 3.72
# load after: 1.62 2.01 3.59
