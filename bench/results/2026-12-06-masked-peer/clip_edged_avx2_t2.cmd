# 1.39 1.08 1.44 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.44 1.10 1.45
# 1.66 1.30 1.46 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.66 1.30 1.46
# 1.90 1.46 1.49 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.91 1.47 1.50
# 0.82 1.25 1.56 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 0.82 1.25 1.56
# 1.79 1.45 1.58 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.81 1.46 1.58
# 1.76 1.54 1.59 ../../../bin/edged bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed --cache /root/.cache/edged/bench --json
# after 1.76 1.54 1.59
