# 0.63 0.52 1.79 /tmp/edged_base bench --synthetic clip-b32-vision --precision int8 --delegate xnnpack+qs8 --kernels auto,auto+bmm --threads 2 --runs 60 --json
# 0.90 0.60 1.78 /tmp/edged_base bench --synthetic clip-b32-vision --precision int8 --delegate xnnpack+qs8 --kernels auto,auto+bmm --threads 2 --runs 60 --json
