edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8-dynamic,int8 --delegate xnnpack --threads 1 --runs 8 --max-time 200s --stages blip.vision --cache DIR
