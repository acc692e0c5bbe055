# 1.44 1.10 1.45 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.45 1.11 1.45
# 1.66 1.30 1.46 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.64 1.31 1.46
# 1.91 1.47 1.50 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.92 1.48 1.50
# 0.82 1.25 1.56 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.07 1.29 1.57
# 1.81 1.46 1.58 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.84 1.48 1.58
# 1.76 1.54 1.59 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.72 1.54 1.58
