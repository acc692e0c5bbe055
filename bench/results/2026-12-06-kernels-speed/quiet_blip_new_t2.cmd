# /tmp/speednew/bin/edged bench --model <random-init blip-image-captioning-base int8 bundle> --precision int8 --delegate xnnpack --kernels auto,auto+bmm --threads 2 --runs 5 --max-time 300s --stages blip.vision,memory.peak_rss --json
# load before: 1.25 4.31 7.78
# load after: 1.19 4.15 7.67
