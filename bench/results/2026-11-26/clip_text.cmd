# /tmp/tmp.josQCKUefQ/edged bench --random-init bench/configs/clip-vit-base-patch32.json --precision all --delegate none,xnnpack --threads 1,2 --runs 10 --stages clip.text_embed,clip.zero_shot_cold,clip.zero_shot_cached --cache /tmp/edged-bench-cache --json
# load before: 10.70 9.03 7.44
# exit status 143
# load after: 7.70 7.50 7.46
# stopped by hand at 20:22 after the fp32 and fp16 rows: the 2-thread zero-shot runs took minutes each under load; the int8 rows are in clip_text_int8.*
