# go test -run ^$ -bench FullyConnected -benchtime 200x ./runtime/kernels
# load before: 1.26 1.18 2.22
# load after: 1.39 1.22 2.21
