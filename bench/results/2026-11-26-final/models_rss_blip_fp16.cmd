# edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp16 --threads 1 --stages memory.models_rss --json
# load before: 1.42 3.05 4.41
# load after: 1.39 3.01 4.39
