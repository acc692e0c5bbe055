# /tmp/tmp.UG3X4Dc20C/edged bench --stages none --daemon 10s --daemon-cameras 3 --json
# load before: 2.97 4.22 5.00
# load after: 2.98 4.18 4.98
