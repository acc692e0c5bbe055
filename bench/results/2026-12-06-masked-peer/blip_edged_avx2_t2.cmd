# 1.64 1.24 1.45 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.75 1.27 1.46
# 1.71 1.36 1.47 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.76 1.39 1.47
# 1.80 1.51 1.51 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.68 1.49 1.50
# 1.69 1.38 1.56 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.64 1.38 1.56
# 1.82 1.52 1.58 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.70 1.50 1.58
# 1.70 1.54 1.58 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.67 1.54 1.58
