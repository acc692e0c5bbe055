# 1.30 1.10 1.43 peer AVX2 --towers clip-b32-vision --threads 1 --runs 60
# after 1.40 1.13 1.44
# 1.42 1.28 1.45 peer AVX2 --towers clip-b32-vision --threads 1 --runs 60
# after 1.36 1.27 1.44
# 1.67 1.46 1.49 peer AVX2 --towers clip-b32-vision --threads 1 --runs 60
# after 1.57 1.44 1.49
# 1.13 1.29 1.56 peer AVX2 --towers clip-b32-vision --threads 1 --runs 60
# after 1.10 1.28 1.55
# 1.55 1.44 1.57 peer AVX2 --towers clip-b32-vision --threads 1 --runs 60
# after 1.43 1.42 1.56
# 1.51 1.50 1.57 peer AVX2 --towers clip-b32-vision --threads 1 --runs 60
# after 1.43 1.48 1.56
