# 1.45 1.11 1.45 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.38 1.11 1.44
# 1.64 1.31 1.46 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.54 1.30 1.45
# 1.84 1.47 1.50 peer  --towers clip-b32-vision --threads 1 --runs 60
# after 1.78 1.46 1.49
