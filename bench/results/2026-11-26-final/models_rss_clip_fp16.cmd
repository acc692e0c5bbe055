# edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision fp16 --threads 1 --stages memory.models_rss --json
# load before: 1.64 3.23 4.50
# load after: 1.64 3.23 4.50
