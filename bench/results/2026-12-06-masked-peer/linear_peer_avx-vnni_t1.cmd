# 1.87 1.55 1.52 peer AVX2_VNNI --towers  --threads 1 --floor
# after 1.88 1.56 1.52
