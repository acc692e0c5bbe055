# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --precision int8-dynamic --threads 1 --runs 20 --floor
# load before: 1.56 2.85 3.38
# load after: 2.64 2.95 3.39
