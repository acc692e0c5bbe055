# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --threads 1 --runs 10 --max-time 30 --floor
# load before: 0.66 2.05 3.83
# load after: 1.06 2.03 3.77
