# go test -run ^$ -bench FullyConnected -benchtime 200x ./runtime/kernels
# load before: 2.26 2.94 3.33
# load after: 2.13 2.87 3.31
