edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8-dynamic --threads 1 --stages memory.models_rss
