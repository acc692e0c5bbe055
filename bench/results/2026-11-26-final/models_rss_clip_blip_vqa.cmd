# edged bench --random-init bench/configs/clip-vit-base-patch32.json,bench/configs/blip-image-captioning-base.json,bench/configs/blip-vqa-base.json --precision int8 --threads 1 --stages memory.models_rss --json
# load before: 2.16 3.56 4.67
# load after: 1.98 3.47 4.63
