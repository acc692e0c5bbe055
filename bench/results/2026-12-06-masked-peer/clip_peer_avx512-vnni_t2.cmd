# 1.15 1.02 1.43 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 1.28 1.05 1.44
# 1.75 1.30 1.46 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 1.69 1.29 1.46
# 1.95 1.45 1.49 peer  --towers clip-b32-vision --threads 2 --runs 60
# after 1.88 1.44 1.49
