# /tmp/tmp.YROlCus4aD/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels off --threads 2 --runs 5 --max-time 300s --stages blip.vision --cache /tmp/edged-bench-cache --json
# load before: 1.12 1.15 2.22
# load after: 1.26 1.18 2.22
