# 1.45 1.11 1.45 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.38 1.11 1.44
# 1.64 1.31 1.46 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.54 1.30 1.45
# 1.84 1.47 1.50 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.78 1.46 1.49
# 1.07 1.29 1.57 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.06 1.28 1.56
# 1.84 1.48 1.58 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.77 1.47 1.58
# 1.72 1.54 1.58 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.61 1.52 1.58
