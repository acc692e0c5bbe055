# 1.11 1.00 1.43 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.15 1.02 1.43
# 1.82 1.30 1.47 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.75 1.30 1.46
# 1.95 1.45 1.49 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.95 1.45 1.49
# 0.35 1.23 1.56 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 0.45 1.22 1.56
# 1.90 1.45 1.58 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.90 1.45 1.58
# 1.85 1.54 1.59 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx512-vnni --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.78 1.53 1.58
