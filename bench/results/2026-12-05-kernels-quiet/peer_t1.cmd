# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --precision int8-dynamic --threads 1 --runs 20 --floor
# load before: 0.50 1.12 2.39
# load after: 0.72 1.10 2.33
