# 1.38 1.11 1.44 peer AVX2_VNNI --towers clip-b32-vision --threads 1 --runs 60
# after 1.33 1.11 1.44
# 1.54 1.30 1.45 peer AVX2_VNNI --towers clip-b32-vision --threads 1 --runs 60
# after 1.46 1.29 1.45
# 1.79 1.47 1.50 peer AVX2_VNNI --towers clip-b32-vision --threads 1 --runs 60
# after 1.73 1.46 1.49
# 1.06 1.28 1.56 peer AVX2_VNNI --towers clip-b32-vision --threads 1 --runs 60
# after 1.13 1.29 1.56
# 1.71 1.46 1.58 peer AVX2_VNNI --towers clip-b32-vision --threads 1 --runs 60
# after 1.60 1.45 1.57
# 1.61 1.52 1.58 peer AVX2_VNNI --towers clip-b32-vision --threads 1 --runs 60
# after 1.51 1.50 1.57
