# edged bench --random-init bench/configs/blip-vqa-base.json --precision fp32,int8 --delegate xnnpack --threads 1,2 --runs 5 --stages blip.vqa_answer --json
# load before: 1.50 1.55 2.86
# load after: 1.40 1.52 2.81
