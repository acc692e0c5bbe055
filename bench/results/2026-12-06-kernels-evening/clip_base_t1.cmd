# 1.87 2.77 3.70 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 1 --runs 60 --stages clip.image_embed
# after 1.87 2.77 3.70
# 1.80 2.74 3.69 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 1 --runs 60 --stages clip.image_embed
# after 1.80 2.74 3.69
# 1.80 2.74 3.69 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed
# after 1.74 2.71 3.67
# 1.74 2.71 3.67 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed
# after 1.76 2.70 3.66
# 1.23 2.10 3.29 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 1 --runs 60 --stages clip.image_embed
# after 1.23 2.10 3.29
# 1.21 2.08 3.28 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 1 --runs 60 --stages clip.image_embed
# after 1.21 2.08 3.28
# 1.20 2.06 3.27 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed
# after 1.20 2.06 3.27
# 1.18 2.04 3.26 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed
# after 1.17 2.02 3.24
# 0.51 1.00 2.49 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto --threads 1 --runs 60 --stages clip.image_embed
# after 0.55 1.00 2.48
# 0.55 1.00 2.48 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 1 --runs 60 --stages clip.image_embed
# after 0.55 1.00 2.48
# 0.58 1.00 2.48 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx-vnni --threads 1 --runs 60 --stages clip.image_embed
# after 0.58 1.00 2.48
# 0.62 1.00 2.47 /tmp/edged_base --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels avx2 --threads 1 --runs 60 --stages clip.image_embed
# after 0.65 1.00 2.46
