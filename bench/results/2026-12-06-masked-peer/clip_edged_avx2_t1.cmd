# 1.33 1.11 1.44 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.30 1.10 1.43
# 1.46 1.29 1.45 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.42 1.28 1.45
# 1.73 1.46 1.49 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.67 1.46 1.49
# 1.13 1.29 1.56 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.13 1.29 1.56
# 1.60 1.45 1.57 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.55 1.44 1.57
# 1.51 1.50 1.57 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.51 1.50 1.57
