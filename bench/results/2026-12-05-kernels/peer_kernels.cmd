# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --precision int8-dynamic --threads 2 --runs 20 --floor
# load before: 3.12 3.37 4.60
# load after: 3.37 3.39 4.49
