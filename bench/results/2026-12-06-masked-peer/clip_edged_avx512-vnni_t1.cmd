# 1.45 1.11 1.45 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.45 1.11 1.45
# 1.64 1.31 1.46 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.64 1.31 1.46
# 1.92 1.48 1.50 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.84 1.47 1.50
# 1.07 1.29 1.57 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.07 1.29 1.57
# 1.84 1.48 1.58 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.84 1.48 1.58
# 1.72 1.54 1.58 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.72 1.54 1.58
