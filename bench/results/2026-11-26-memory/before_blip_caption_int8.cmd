# edged bench --random-init bench/configs/blip-image-captioning-base.json --precision int8 --threads 1 --stages memory.models_rss --cache /tmp/edged-bench-cache --json ; load 2.28 1.53 0.77
