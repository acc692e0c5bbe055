# /tmp/tmp.DqoNhov7Mq/edged bench --synthetic clip-b32-vision --precision fp32,int8-dynamic,int8 --delegate none,xnnpack,xnnpack+qs8 --threads 1,2 --runs 10 --max-time 300s --json
# load before: 3.93 4.49 5.71
# load after: 2.81 3.95 5.41
