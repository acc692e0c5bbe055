# /tmp/tmp.UG3X4Dc20C/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp32,int8 --delegate xnnpack --threads 1 --runs 5 --stages blip.cross_kv,blip.decode_token,blip.caption --cache /tmp/edged-bench-cache --json
# load before: 3.42 4.57 5.16
# load after: 3.17 4.32 5.04
