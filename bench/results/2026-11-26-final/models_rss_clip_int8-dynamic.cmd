# edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8-dynamic --threads 1 --stages memory.models_rss --json
# load before: 1.54 3.15 4.47
# load after: 1.54 3.15 4.47
