# edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision fp32 --threads 1 --stages memory.models_rss --json
# load before: 1.76 3.30 4.54
# load after: 1.70 3.27 4.52
