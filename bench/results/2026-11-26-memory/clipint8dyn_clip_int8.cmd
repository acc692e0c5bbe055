# edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --threads 1 --stages memory.models_rss --cache /tmp/edged-bench-cache --json ; load 0.87 0.90 0.91
