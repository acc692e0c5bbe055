# 1.87 2.77 3.70 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 1 --runs 60 --stages clip.image_embed
# after 1.80 2.74 3.69
# 1.80 2.74 3.69 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 1 --runs 60 --stages clip.image_embed
# after 1.80 2.74 3.69
# 1.74 2.71 3.67 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed
# after 1.74 2.71 3.67
# 1.76 2.70 3.66 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed
# after 1.70 2.67 3.65
# 1.23 2.10 3.29 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 1 --runs 60 --stages clip.image_embed
# after 1.21 2.08 3.28
# 1.21 2.08 3.28 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 1 --runs 60 --stages clip.image_embed
# after 1.20 2.06 3.27
# 1.20 2.06 3.27 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed
# after 1.18 2.04 3.26
# 1.17 2.02 3.24 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed
# after 1.15 2.01 3.23
# 0.55 1.00 2.48 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 1 --runs 60 --stages clip.image_embed
# after 0.55 1.00 2.48
# 0.55 1.00 2.48 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 1 --runs 60 --stages clip.image_embed
# after 0.58 1.00 2.48
# 0.58 1.00 2.48 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed
# after 0.62 1.00 2.47
# 0.65 1.00 2.46 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed
# after 0.68 1.00 2.45
