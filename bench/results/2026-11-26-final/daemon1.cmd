# /tmp/tmp.UG3X4Dc20C/edged bench --stages none --daemon 10s --daemon-cameras 1 --json
# load before: 3.16 4.30 5.03
# load after: 2.97 4.22 5.00
