# 1.77 1.53 1.51 peer  --towers  --threads 2 --floor
# after 1.87 1.55 1.52
