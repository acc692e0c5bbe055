# 1.28 1.05 1.44 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 1.39 1.08 1.44
# 1.69 1.29 1.46 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 1.66 1.30 1.46
# 1.81 1.43 1.49 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 1.90 1.46 1.49
# 0.69 1.25 1.56 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 0.82 1.25 1.56
# 1.84 1.45 1.58 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 1.79 1.45 1.58
# 1.80 1.54 1.59 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 1.76 1.54 1.59
