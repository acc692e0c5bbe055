# /tmp/tmp.qDNAZ6VaFU/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels off,auto,auto+bmm,avx-vnni,avx2 --threads 1,2 --runs 20 --max-time 300s --stages clip.image_embed --cache /tmp/edged-bench-cache --json
# load before: 2.62 3.43 4.75
# load after: 3.12 3.37 4.60
