# /tmp/tmp.7ZIDgw4wGO/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels off --threads 2 --runs 5 --max-time 300s --stages blip.vision --cache /tmp/edged-bench-cache --json
# load before: 2.52 3.02 3.37
# load after: 2.26 2.94 3.33
