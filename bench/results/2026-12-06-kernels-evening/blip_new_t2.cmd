# 1.38 2.42 3.51 /tmp/edged_new --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 5 --stages blip.vision
# after 1.15 2.18 3.36
# 1.13 2.14 3.33 /tmp/edged_new --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 5 --stages blip.vision
# after 1.12 2.12 3.32
# 1.14 1.99 3.22 /tmp/edged_new --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 5 --stages blip.vision
# after 1.28 1.99 3.21
# 1.26 1.97 3.19 /tmp/edged_new --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 5 --stages blip.vision
# after 1.24 1.96 3.18
# 0.78 1.02 2.45 /tmp/edged_new --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto --threads 2 --runs 5 --stages blip.vision
# after 0.82 1.02 2.43
# 0.83 1.02 2.43 /tmp/edged_new --random-init ../../configs/blip-image-captioning-base.json --precision int8 --delegate xnnpack --kernels auto+bmm --threads 2 --runs 5 --stages blip.vision
# after 0.85 1.01 2.42
