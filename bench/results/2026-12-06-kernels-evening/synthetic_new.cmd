# 0.79 0.56 1.79 /tmp/edged_new bench --synthetic clip-b32-vision --precision int8 --delegate xnnpack+qs8 --kernels auto,auto+bmm --threads 2 --runs 60 --json
# 1.00 0.63 1.78 /tmp/edged_new bench --synthetic clip-b32-vision --precision int8 --delegate xnnpack+qs8 --kernels auto,auto+bmm --threads 2 --runs 60 --json
