# /tmp/tmp.qDNAZ6VaFU/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels off,auto,avx-vnni,avx2 --threads 2 --runs 5 --max-time 300s --stages blip.vision --cache /tmp/edged-bench-cache --json
# load before: 3.37 3.39 4.49
# load after: 3.05 3.30 4.37
