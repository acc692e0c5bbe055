# /tmp/tmp.DqoNhov7Mq/edged bench --synthetic clip-b32-vision --variant ln=fc --precision fp32,int8 --delegate xnnpack+qs8 --threads 1,2 --runs 10 --json
# load before: 2.81 3.95 5.41
# load after: 2.47 3.82 5.34
