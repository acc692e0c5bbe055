# /tmp/tmp.DqoNhov7Mq/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp32,int8-dynamic,int8 --delegate xnnpack --threads 1,2 --runs 5 --stages blip.cross_kv,blip.decode_token,blip.caption --cache /tmp/edged-bench-cache --json
# load before: 5.40 5.39 6.43
# load after: 3.87 4.58 5.82
