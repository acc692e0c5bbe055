# go test -run ^$ -bench FullyConnected -benchtime 200x ./runtime/kernels
# load before: 3.05 3.30 4.37
# load after: 3.16 3.31 4.34
