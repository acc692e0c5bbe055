# /tmp/benchlib/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp32,int8 --delegate xnnpack --threads 1,2 --runs 5 --stages blip.cross_kv,blip.decode_token,blip.caption --cache /tmp/edged-bench-cache --json
# load before: 1.49 1.97 3.57
# load after: 1.33 1.79 3.36
