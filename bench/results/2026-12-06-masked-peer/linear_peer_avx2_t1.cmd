# 1.81 1.55 1.52 peer AVX2 --towers  --threads 1 --floor
# after 1.82 1.56 1.52
