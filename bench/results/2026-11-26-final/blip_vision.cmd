# /tmp/tmp.UG3X4Dc20C/edged bench --random-init bench/configs/blip-image-captioning-base.json --precision fp32,int8 --delegate none,xnnpack --threads 1,2 --runs 5 --max-time 300s --stages blip.vision --cache /tmp/edged-bench-cache --json
# load before: 5.69 5.89 5.65
# exit status 1
# load after: 3.42 4.57 5.16
