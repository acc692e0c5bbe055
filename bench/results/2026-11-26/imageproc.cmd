# /tmp/tmp.josQCKUefQ/edged bench --stages imageproc. --runs 50 --json
# load before: 7.09 7.32 6.16
# load after: 7.09 7.32 6.17
