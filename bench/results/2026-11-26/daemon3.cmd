# /tmp/tmp.josQCKUefQ/edged bench --stages none --daemon 10s --daemon-cameras 3 --json
# load before: 7.81 7.74 6.58
# load after: 7.52 7.68 6.57
