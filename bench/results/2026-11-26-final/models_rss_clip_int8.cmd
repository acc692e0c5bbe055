# edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --threads 1 --stages memory.models_rss --json
# load before: 1.98 3.47 4.63
# load after: 1.98 3.47 4.63
