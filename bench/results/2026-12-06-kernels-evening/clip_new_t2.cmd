# 1.70 2.84 3.76 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 60 --stages clip.image_embed
# after 1.83 2.81 3.73
# 1.85 2.80 3.72 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 60 --stages clip.image_embed
# after 1.85 2.80 3.72
# 1.85 2.80 3.72 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed
# after 1.86 2.78 3.71
# 1.86 2.78 3.71 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed
# after 1.87 2.77 3.70
# 1.12 2.12 3.32 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 60 --stages clip.image_embed
# after 1.12 2.12 3.32
# 1.19 2.12 3.31 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 60 --stages clip.image_embed
# after 1.19 2.12 3.31
# 1.19 2.12 3.31 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed
# after 1.25 2.11 3.31
# 1.25 2.11 3.31 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed
# after 1.23 2.10 3.29
# 0.08 0.95 2.50 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 60 --stages clip.image_embed
# after 0.08 0.95 2.50
# 0.24 0.97 2.50 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 60 --stages clip.image_embed
# after 0.24 0.97 2.50
# 0.38 0.98 2.50 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed
# after 0.38 0.98 2.50
# 0.51 1.00 2.49 /tmp/edged_new --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed
# after 0.51 1.00 2.49
