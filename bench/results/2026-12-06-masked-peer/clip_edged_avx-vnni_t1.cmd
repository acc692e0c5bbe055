# 1.38 1.11 1.44 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.38 1.11 1.44
# 1.54 1.30 1.45 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.54 1.30 1.45
# 1.78 1.46 1.49 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.79 1.47 1.50
# 1.06 1.28 1.56 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.06 1.28 1.56
# 1.77 1.47 1.58 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.71 1.46 1.58
# 1.61 1.52 1.58 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.61 1.52 1.58
