edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8-dynamic,int8 --delegate xnnpack --threads 1 --runs 20 --stages clip.image_embed
