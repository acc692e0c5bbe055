# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --threads 1 --runs 5 --floor
# load before: 6.42 6.05 5.69
# load after: 5.69 5.89 5.65
