# /tmp/tmp.DqoNhov7Mq/edged bench --synthetic fc-stack --precision fp32,int8-dynamic,int8 --delegate none,xnnpack+qs8 --threads 1,2 --runs 10 --json
# load before: 2.47 3.82 5.34
# load after: 2.70 3.69 5.23
