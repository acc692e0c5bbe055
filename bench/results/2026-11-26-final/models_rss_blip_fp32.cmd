# edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp32 --threads 1 --stages memory.models_rss --json
# load before: 1.34 2.90 4.32
# load after: 1.34 2.90 4.32
