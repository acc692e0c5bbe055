// Package kernels is edged's own int8 matrix kernels, offered to TensorFlow Lite as a
// delegate: it claims the int8 FULLY_CONNECTED operators, the CONV_2D of a vision transformer's
// patch embedding (stride = kernel size: a FULLY_CONNECTED over the patches, weights per
// output channel) and the int8 BATCH_MATMUL of attention (Options.BatchMatMul, which Resolve
// turns on unless the mode ends in -bmm or the kernel is avx2), and leaves every other operator
// to the next delegate (XNNPACK) or to TFLite. Beside the matrix
// work it takes two operators TFLite runs slowly and XNNPACK 2.9 not at all, both exact by
// construction: int8 TRANSPOSE (attention's heads, moved in runs instead of byte by byte) and
// the DEQUANTIZE of a computed int8 tensor (attention's scores before the softmax, the dense
// layers' outputs before the residual ADD; TFLite's amd64 kernel converts in double, the
// float product is the same value; on arm64 TFLite's kernel is NEON and keeps it). It also
// takes weight-only int8, int8 lookup chains, the RESHAPE, DEQUANTIZE and residual ADD
// between its operators, and the layer norms (below): on amd64 a CLIP or BLIP vision layer
// runs in the kernels but for its softmax. runtime/tflite applies it before XNNPACK
// (tflite.Options.Kernels); this package knows nothing else of TFLite's Go binding.
//
// # Why
//
// TFLite 2.9's XNNPACK has no int8 kernels using the CPU's dot-product instructions (VNNI on
// x86, sdot on Arm), and TFLite is the newest this project can get (BENCHMARKS.md). Written
// here, the dense layers run on them.
//
// # Kernels
//
// One per instruction set, chosen at run time from the CPU's features (cpuid and xgetbv on
// x86-64, getauxval(AT_HWCAP) on arm64); the x86 ones are compiled with per-function target
// attributes, so the binary runs on any x86-64 CPU:
//
//   - avx512-vnni: vpdpbusd on 512 bits;
//   - avx-vnni: vpdpbusd on 256 bits (VEX), the Intel N100's;
//   - avx2: vpmaddubsw and vpmaddwd (vpdpbusd in two steps), the x86 floor: exact because the
//     few pairs of weights whose products could saturate vpmaddubsw's int16 sums are split
//     when packing and their rest added in the tile's epilogue;
//   - neon-dot: sdot (Pi 5, Jetson Orin);
//   - neon: smull and sadalp (Pi 4);
//   - generic: portable C, for tests; Auto never picks it.
//
// Weights are packed once, when TFLite prepares the operator, into blocks of 16 columns ×
// 4 inputs that every kernel reads. vpdpbusd multiplies unsigned by signed bytes: the input x
// enters as x + 128 and the difference, 128 + the zero point times each column's weight sum,
// is folded into the bias at packing time, so the integer sums are exact.
//
// # Exactly TFLite's results
//
// The output stage is what the shipped TFLite 2.9 libraries run (their optimized kernels, not
// the reference ones), measured against them on hundreds of thousands of random values: the
// multiplier from (double)(float)(input scale × weight scale) / output scale (per channel:
// all in double), split as QuantizeMultiplier does; then, on amd64, a rounding doubling high multiply followed by a
// rounding shift right, ties up both times (not the reference kernels' ties away from zero);
// on arm64 one rounding of the product and the shift together; the zero point and the
// activation clamp. Every claimed operator's output equals TFLite's own kernel's bit for bit
// (TestFullyConnectedEqualsTFLite and the tests after it, for every kernel the CPU runs; on
// arm64 under qemu with Cortex-A72 and Cortex-A76 cores).
//
// # Weight-only int8
//
// At int8-dynamic the converter writes a float FULLY_CONNECTED on the DEQUANTIZE of constant
// int8 weights (one scale per output channel). Left to TFLite, the DEQUANTIZE fills a float32
// copy of the weights that stays beside the one XNNPACK packs: twice fp32's memory. The
// delegate takes the DEQUANTIZE with every operator reading its output (the FULLY_CONNECTED,
// and the GATHER of an embedding table a decoder's output layer shares), keeps the int8
// weights packed in blocks of 16 columns, and dequantizes them in registers: each int8 weight
// times its scale, rounded once, is exactly the float TFLite's DEQUANTIZE stores, so the
// outputs are TFLite's float results up to the order of the sums (TestWeightOnlyEqualsTFLite
// holds them to the bound of that order). A DEQUANTIZE whose output anything else reads stays
// with TFLite, and its readers too. The claimed DEQUANTIZE writes nothing: a float tensor
// that crosses partitions gets a custom allocation of no bytes, so that TFLite's arena does
// not hold it either.
//
// # Lookup chains
//
// An int8 MUL or LOGISTIC whose inputs are one int8 tensor (the chain's root), values
// computed from it by such operators, and one-element constants is a function of the root's
// byte: 256 values. CLIP's QuickGELU (x · σ(1.702 x): MUL, LOGISTIC, MUL on fc1's output) and
// the query's MUL by the attention scale are such chains. Each operator of a chain becomes a
// table, built at claim time with TFLite's own int8 arithmetic (lut.c: MUL's multiplier from
// the scales in float and gemmlowp's rounding, half away from zero; LOGISTIC's own table, in
// float), and only the chain's outputs that something else reads are written: one lookup
// pass (vpermb on the AVX-512 path, vpshufb on the 256-bit ones, tbl on arm64) instead of
// three operators on XNNPACK and the partitions between (TestLookupTablesEqualTFLite: every
// byte, random scales, bit for bit). On arm64 only LOGISTIC is taken: the library's int8 MUL
// was not reproduced there (lut.c).
//
// An int8 RESHAPE of a claimed operator's output is taken too (attention's heads split and
// merged between the kernels' operators), so that the attention block up to its softmax is
// one partition; inside it the output is its input's bytes, copied only where TFLite reads
// it (TestReshapeInsidePartitions). The DEQUANTIZE after a claimed operator and the float ADD
// of the residual connections are taken for the same reason, both exact by construction (the
// ADD clamps to ±FLT_MAX and broadcasts as TFLite's: TestResidualAddEqualsTFLite). Whether a
// node is claimed must not depend on the tensors' shapes: a resize makes TFLite apply the
// delegates again, and a tensor one delegate wrote cannot move to another.
//
// # Layer norm
//
// The converter writes a layer norm as nine float operators (internal/graph/nn LayerNorm:
// MEAN, SUB, MUL, MEAN, ADD eps, SQRT, DIV, MUL gamma, ADD beta over the last axis), and at
// int8 a QUANTIZE after them that the next FULLY_CONNECTED operators read. XNNPACK 2.9 has no
// MEAN over the last axis, so the chain ran on one thread between our partitions, half of it
// on TFLite's kernels. The delegate takes the nine operators whole, with the int8 QUANTIZE
// when it alone reads the result, as one operator whose rows are split over the pool; TFLite
// then puts it in one partition with the FULLY_CONNECTED operators after it, the int8 rows
// between living inside it; when only those read them (attention's q, k and v, or fc1), the
// layer norm writes them already prepared as the kernels read them. Only when nothing outside the chain reads its inner tensors (a
// chain whose inner tensor would be a partition's output, a graph output, stays with TFLite);
// on amd64 only (arm64's QUANTIZE is NEON and rounds otherwise). Its results are TFLite's own
// kernels' bit for bit (TestLayerNormEqualsTFLite), also where XNNPACK would have run the float
// operators and the QUANTIZE (XNNPACK rounds the QUANTIZE's ties to even, on a float product):
// the MEAN's sums in the order of TFLite's Eigen (SSE packets from each row's first aligned
// element, two accumulators), the float operators' clamps of infinities to ±FLT_MAX, and
// QUANTIZE's double quotient rounded half away from zero (layernorm.c says how the vector code
// gets the same).
//
// # Threads
//
// A delegate runs each operator on its caller and Threads-1 workers of its own. Between
// operators a worker spins for the next one at most Options.Spin (DefaultSpin, 300 µs: the
// gaps between the layers of one Invoke), yielding its core to any other runnable thread, and
// then sleeps on a condition variable: waking a sleeping thread costs 50-80 µs on a virtual
// machine, against layers of 0.1-0.35 ms. An idle process does not spin, and when spinning
// threads find themselves preempted several times in a row (more runnable threads than
// cores) nobody in the pool spins for the next 100 ms, so on a busy machine the pool only
// sleeps, as it did before. Work is
// split in tiles of rows × 64 columns taken from a shared counter, so a thread whose core is
// busy elsewhere takes fewer. runtime/tflite gives XNNPACK one thread when
// the kernels run a full-int8 model (tflite.Options.XNNPackThreads): its pool spins after each
// of its partitions, which alternate with the kernels' operators.
package kernels
