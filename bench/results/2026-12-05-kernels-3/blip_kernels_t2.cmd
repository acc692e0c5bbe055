# /tmp/tmp.7ZIDgw4wGO/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto,avx-vnni,avx2 --threads 2 --runs 5 --max-time 300s --stages blip.vision --cache /tmp/edged-bench-cache --json
# load before: 3.41 3.22 3.44
# load after: 2.52 3.02 3.37
