# 1.82 1.56 1.52 peer AVX2 --towers  --threads 2 --floor
# after 1.82 1.56 1.52
