# 1.91 2.93 3.80 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 60 --stages clip.image_embed
# after 1.70 2.84 3.76
# 1.83 2.81 3.73 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 60 --stages clip.image_embed
# after 1.85 2.80 3.72
# 1.85 2.80 3.72 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed
# after 1.85 2.80 3.72
# 1.86 2.78 3.71 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed
# after 1.86 2.78 3.71
# 1.12 2.12 3.32 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 60 --stages clip.image_embed
# after 1.12 2.12 3.32
# 1.12 2.12 3.32 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 60 --stages clip.image_embed
# after 1.19 2.12 3.31
# 1.19 2.12 3.31 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed
# after 1.19 2.12 3.31
# 1.25 2.11 3.31 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed
# after 1.25 2.11 3.31
# 0.08 0.95 2.50 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 60 --stages clip.image_embed
# after 0.08 0.95 2.50
# 0.08 0.95 2.50 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 60 --stages clip.image_embed
# after 0.24 0.97 2.50
# 0.24 0.97 2.50 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 2 --runs 60 --stages clip.image_embed
# after 0.38 0.98 2.50
# 0.38 0.98 2.50 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 2 --runs 60 --stages clip.image_embed
# after 0.51 1.00 2.49
