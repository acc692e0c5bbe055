# 1.44 1.10 1.45 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.45 1.11 1.45
# 1.66 1.30 1.46 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.64 1.31 1.46
# 1.91 1.47 1.50 peer AVX2 --towers clip-b32-vision --threads 2 --runs 60
# after 1.92 1.48 1.50
