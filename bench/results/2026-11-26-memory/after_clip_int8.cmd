# edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --threads 1 --stages memory.models_rss --cache /tmp/edged-bench-cache --json ; load 1.00 1.26 1.01
