# 1.17 1.11 1.42 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.44 1.17 1.43
# 1.33 1.27 1.44 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.51 1.31 1.45
# 1.68 1.47 1.49 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.69 1.48 1.50
# 1.21 1.28 1.54 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.41 1.32 1.55
# 1.47 1.43 1.56 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.68 1.47 1.57
# 1.40 1.48 1.56 peer  --towers blip-base-vision --threads 2 --runs 5
# after 1.62 1.52 1.57
