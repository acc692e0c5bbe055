# 0.61 0.58 1.69 /tmp/edged_new bench --random-init ../../configs/clip-vit-base-patch32.json --precision int8 --threads 2 --stages memory.models_rss --json
# 0.64 0.59 1.69 /tmp/edged_new bench --random-init ../../configs/blip-image-captioning-base.json --precision int8 --threads 2 --stages memory.models_rss --json
