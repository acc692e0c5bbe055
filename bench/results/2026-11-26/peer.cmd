# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --threads 2 --runs 10 --floor
# load before: 7.09 7.32 6.17
# load after: 7.86 7.75 6.56
