# env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --threads 2 --runs 10 --floor
# load before: 7.46 5.66 5.51
# load after: 6.42 6.05 5.69
