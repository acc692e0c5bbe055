# patched runtime (EDGED_KERNEL_THREADS, see quiet-start.md): EDGED_KERNEL_THREADS=unset edged bench --synthetic clip-b32-vision --precision fp32,int8 --delegate xnnpack+qs8 --threads 1,2 --runs 15 --json
# load before: 1.11 1.44 2.97
# load after: 2.02 1.63 3.00
