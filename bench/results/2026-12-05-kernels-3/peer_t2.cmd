# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --precision int8-dynamic --threads 2 --runs 20 --floor
# load before: 2.67 2.92 3.37
# load after: 3.62 3.26 3.46
