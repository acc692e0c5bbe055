# 1.75 1.27 1.46 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.82 1.30 1.47
# 1.76 1.39 1.47 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.95 1.45 1.49
# 1.68 1.49 1.50 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.83 1.54 1.52
# 1.64 1.38 1.56 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.90 1.45 1.58
# 1.70 1.50 1.58 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.85 1.54 1.59
# 1.67 1.54 1.58 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.90 1.60 1.60
