# 1.70 2.67 3.65 /tmp/edged_base --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 5 --stages blip.vision
# after 1.38 2.42 3.51
# 1.15 2.18 3.36 /tmp/edged_base --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 5 --stages blip.vision
# after 1.13 2.14 3.33
# 1.15 2.01 3.23 /tmp/edged_base --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 5 --stages blip.vision
# after 1.14 1.99 3.22
# 1.28 1.99 3.21 /tmp/edged_base --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 5 --stages blip.vision
# after 1.26 1.97 3.19
# 0.68 1.00 2.45 /tmp/edged_base --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 5 --stages blip.vision
# after 0.78 1.02 2.45
# 0.82 1.02 2.43 /tmp/edged_base --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 5 --stages blip.vision
# after 0.83 1.02 2.43
