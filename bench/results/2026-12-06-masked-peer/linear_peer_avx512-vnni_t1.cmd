# 1.77 1.53 1.51 peer  --towers  --threads 1 --floor
# after 1.77 1.53 1.51
