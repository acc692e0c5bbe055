# 1.17 1.11 1.42 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.44 1.17 1.43
# 1.33 1.27 1.44 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.51 1.31 1.45
# 1.68 1.47 1.49 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.69 1.48 1.50
