# /tmp/tmp.josQCKUefQ/edged bench --stages none --daemon 10s --daemon-cameras 1 --json
# load before: 7.86 7.75 6.56
# load after: 7.81 7.74 6.58
