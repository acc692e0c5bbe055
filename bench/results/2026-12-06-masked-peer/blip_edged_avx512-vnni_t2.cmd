# 1.40 1.13 1.44 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.17 1.11 1.42
# 1.36 1.27 1.44 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.33 1.27 1.44
# 1.57 1.44 1.49 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.68 1.47 1.49
# 1.10 1.28 1.55 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.21 1.28 1.54
# 1.43 1.42 1.56 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.47 1.43 1.56
# 1.43 1.48 1.56 ../../../bin/edged bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 5 --stages blip.vision --cache /root/.cache/edged/bench --json
# after 1.40 1.48 1.56
