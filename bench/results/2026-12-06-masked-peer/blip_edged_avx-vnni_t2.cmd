# 1.44 1.17 1.43 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.37 1.17 1.43
# 1.51 1.31 1.45 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.43 1.30 1.45
# 1.69 1.48 1.50 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.63 1.47 1.49
# 1.41 1.32 1.55 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.35 1.31 1.54
# 1.68 1.47 1.57 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.57 1.46 1.56
# 1.62 1.52 1.57 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.52 1.50 1.57
