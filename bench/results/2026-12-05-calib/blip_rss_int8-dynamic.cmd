edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8-dynamic --threads 1 --stages memory.models_rss
