# 1.28 1.05 1.44 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 1.39 1.08 1.44
# 1.69 1.29 1.46 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 1.66 1.30 1.46
# 1.81 1.43 1.49 peer AVX2_VNNI --towers clip-b32-vision --threads 2 --runs 60
# after 1.90 1.46 1.49
