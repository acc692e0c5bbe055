# 1.37 1.17 1.43 peer AVX2_VNNI --towers blip-base-vision --threads 2 --runs 5
# after 1.64 1.24 1.45
# 1.43 1.30 1.45 peer AVX2_VNNI --towers blip-base-vision --threads 2 --runs 5
# after 1.71 1.36 1.47
# 1.63 1.47 1.49 peer AVX2_VNNI --towers blip-base-vision --threads 2 --runs 5
# after 1.80 1.51 1.51
# 1.35 1.31 1.54 peer AVX2_VNNI --towers blip-base-vision --threads 2 --runs 5
# after 1.69 1.38 1.56
# 1.57 1.46 1.56 peer AVX2_VNNI --towers blip-base-vision --threads 2 --runs 5
# after 1.82 1.52 1.58
# 1.52 1.50 1.57 peer AVX2_VNNI --towers blip-base-vision --threads 2 --runs 5
# after 1.70 1.54 1.58
