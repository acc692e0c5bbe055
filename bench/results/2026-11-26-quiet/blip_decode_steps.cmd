# /tmp/benchlib/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp32,int8 --delegate xnnpack --threads 1,2 --runs 10 --stages blip.decode_token --cache /tmp/edged-bench-cache --json
# load before: 1.04 1.60 3.18
# load after: 1.17 1.57 3.12
