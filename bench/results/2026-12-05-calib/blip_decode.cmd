edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8-dynamic,int8 --delegate xnnpack --threads 1 --runs 5 --stages blip.vision,blip.decode_token --cache DIR -v
