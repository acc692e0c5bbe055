# 1.15 1.02 1.43 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 1.28 1.05 1.44
# 1.75 1.30 1.46 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 1.69 1.29 1.46
# 1.95 1.45 1.49 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 1.88 1.44 1.49
# 0.45 1.22 1.56 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 0.69 1.25 1.56
# 1.90 1.45 1.58 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 1.84 1.45 1.58
# 1.78 1.53 1.58 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 1.80 1.54 1.59
