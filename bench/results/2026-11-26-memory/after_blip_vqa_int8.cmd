# edged bench --random-init bench/configs/blip-vqa-base.json --precision int8 --threads 1 --stages memory.models_rss --cache /tmp/edged-bench-cache --json ; load 1.10 1.21 1.01
