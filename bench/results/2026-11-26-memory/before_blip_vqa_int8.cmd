# edged bench --random-init bench/configs/blip-vqa-base.json --precision int8 --threads 1 --stages memory.models_rss --cache /tmp/edged-bench-cache --json ; load 2.30 1.57 0.80
