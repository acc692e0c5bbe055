# 1.75 1.27 1.46 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.82 1.30 1.47
# 1.76 1.39 1.47 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.95 1.45 1.49
# 1.68 1.49 1.50 peer AVX2 --towers blip-base-vision --threads 2 --runs 5
# after 1.83 1.54 1.52
