# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --precision int8-dynamic --threads 2 --runs 20 --floor
# load before: 0.87 1.11 2.30
# load after: 1.27 1.18 2.28
