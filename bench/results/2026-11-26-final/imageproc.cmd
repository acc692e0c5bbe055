# /tmp/tmp.UG3X4Dc20C/edged bench --stages imageproc. --runs 50 --json
# load before: 3.17 4.32 5.04
# load after: 3.16 4.30 5.03
