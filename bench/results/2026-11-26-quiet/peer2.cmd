# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --threads 2 --runs 10 --max-time 30 --floor
# load before: 1.06 2.03 3.77
# load after: 2.01 2.14 3.72
