# 1.28 1.05 1.44 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.28 1.05 1.44
# 1.69 1.29 1.46 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.69 1.29 1.46
# 1.88 1.44 1.49 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.81 1.43 1.49
# 0.69 1.25 1.56 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 0.69 1.25 1.56
# 1.84 1.45 1.58 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.84 1.45 1.58
# 1.80 1.54 1.59 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.80 1.54 1.59
