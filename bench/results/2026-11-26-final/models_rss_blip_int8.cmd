# edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8 --threads 1 --stages memory.models_rss --json
# load before: 2.14 3.48 4.63
# load after: 2.05 3.44 4.61
