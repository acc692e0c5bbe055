# /tmp/tmp.DqoNhov7Mq/edged bench --random-init bench/configs/blip-vqa-base.json --precision fp32,int8 --delegate xnnpack --threads 1 --runs 5 --stages blip.vqa_answer --cache /tmp/edged-bench-cache --json
# load before: 3.87 4.58 5.82
# load after: 3.93 4.49 5.71
