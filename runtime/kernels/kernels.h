// Internal declarations of package kernels: the int8 matrix kernels, the requantization they
// share with TFLite, the blocking thread pool and the delegate. See doc.go for the design.
#ifndef EDGED_KERNELS_H_
#define EDGED_KERNELS_H_

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/lite/c/common.h"

// Builtin codes of TFLite's schema, of the operators the delegate claims.
enum {
  KN_OP_ADD = 0,
  KN_OP_CONV_2D = 3,
  KN_OP_DEQUANTIZE = 6,
  KN_OP_FULLY_CONNECTED = 9,
  KN_OP_LOGISTIC = 14,
  KN_OP_MUL = 18,
  KN_OP_RESHAPE = 22,
  KN_OP_GATHER = 36,
  KN_OP_TRANSPOSE = 39,
  KN_OP_MEAN = 40,
  KN_OP_SUB = 41,
  KN_OP_DIV = 42,
  KN_OP_DELEGATE = 51,
  KN_OP_SQRT = 75,
  KN_OP_QUANTIZE = 114,
  KN_OP_BATCH_MATMUL = 126,
};

// ---- requantization (TFLite's int8 output stage) ---------------------------------------------
// An int32 accumulator becomes int8 as the shipped TFLite 2.9 libraries' optimized kernels do
// it: a fixed-point multiplier in [2^30, 2^31) with a power-of-two exponent, applied to
// acc << left with a right shift and rounding (below), then the output zero point and the
// activation clamp. The multiplier comes from the scales as
// TFLite computes it: (double)(float)(input scale × weight scale) / output scale.
//
// The two shipped libraries round differently (measured against each on random values:
// TestFullyConnectedSweep): the amd64 one rounds twice, the product to 31 fraction bits and
// then the shift, ties up both times; the arm64 one once, the product and the shift together
// (ties up). Its reference kernels round the shift's ties away from zero: neither does that.
#if defined(__aarch64__)
#define KN_SINGLE_ROUNDING 1
#else
#define KN_SINGLE_ROUNDING 0
#endif
//
// Multipliers are per output column (per-channel weights have one scale each), in arrays of
// Np entries (64-byte aligned) that the SIMD epilogues load 16, 8 or 4 at a time.
typedef struct {
  int32_t* mult;    // 0 where the real multiplier is 0
  int32_t* lshift;  // >= 0
  int32_t* rshift;  // >= 0
  int np;           // entries
  int32_t out_zp;
  int32_t qmin, qmax;
} kn_requant;

// Splits a real multiplier as TFLite's QuantizeMultiplier does (frexp, round to 31 bits).
void kn_quantize_multiplier(double real, int32_t* mult, int* shift);
// The real multiplier of FULLY_CONNECTED and BATCH_MATMUL: TFLite computes the scales'
// product in float, then divides in double.
double kn_product_multiplier(float in_scale, float w_scale, float out_scale);
// Makes room for np columns (multipliers 0); 0 when out of memory. kn_requant_free releases it.
int kn_requant_alloc(kn_requant* rq, int np);
void kn_requant_free(kn_requant* rq);
// Columns [from, to) take the real multiplier real.
void kn_requant_set(kn_requant* rq, int from, int to, double real);
// The scalar output stage of column col: the definition every SIMD epilogue must equal.
int8_t kn_requant_one(const kn_requant* rq, int col, int32_t acc);

// ---- GEMM ------------------------------------------------------------------------------------
// C[m][n] = requant(sum_k A[m][k] * B[n][k] + col[n] + row[m]) for m < M, n < N, where A is
// the activation matrix prepared for the kernel (see kn_akind) and B is packed once.
//
// Packed B: Np = N rounded up to 16 columns, Kp = K rounded up to 16. Block j holds columns
// 16j..16j+15 as Kp/4 groups of 64 bytes; group g is [column 0..15][k = 4g..4g+3]. This one
// layout serves vpdpbusd and vpmaddubsw (zmm: one group; ymm: two halves) and sdot (four
// columns per register). Padding is zero.
#define KN_NB 16  // columns per packed block
#define KN_KALIGN 16

// How a kernel wants A: every kernel computes sum_k a[k]*b[k] with a = x + off exactly, and
// the difference to sum (x - zx)(b - zb) goes into col[] and row[] (kn_compensation).
typedef enum {
  KN_A_U8 = 0,   // uint8 x + 128 (x ^ 0x80): vpdpbusd takes unsigned × signed bytes
  KN_A_S8 = 1,   // int8 x as is: sdot, NEON, generic
} kn_akind;

// A weight of packed B whose pair partner made the pair's products too large for vpmaddubsw's
// int16 sums: B holds the part that fits and the kernel adds a[k] * r to column 16j + c itself
// (kn_split_pairs).
typedef struct {
  int32_t k;
  int16_t c;  // column within its block
  int16_t r;  // the part left out of B
} kn_fix;

typedef struct {
  kn_akind akind;
  const void* a;        // M rows of Kp bytes, a_stride apart
  size_t a_stride;
  const int8_t* b;      // packed B
  int kp;               // Kp
  const int32_t* col;   // Np column terms (bias and compensation)
  const int32_t* row;   // M row terms, or NULL when zero
  const kn_requant* rq;
  int8_t* c;            // output rows of c_stride bytes
  size_t c_stride;
  int m, n;             // M, N
  const kn_fix* fix;    // kn_split_pairs' fixes, block j's from fix_start[j] to fix_start[j+1]; NULL when none
  const int32_t* fix_start;
} kn_gemm;

// The packed weights of block j (columns 16j..16j+15, every k).
static inline const int8_t* kn_block(const kn_gemm* g, int j) { return g->b + (size_t)j * g->kp * KN_NB; }

// The rows of the next tile when `left` rows remain for tiles of at most mr: as even as possible
// (50 rows in tiles of 6: 6,6,6,6,6,5,5,5,5, not eight 6s and a 2 that streams the weights as a
// whole tile does for a third of the work).
static inline int kn_tile_rows(int left, int mr) {
  const int tiles = (left + mr - 1) / mr;
  return (left + tiles - 1) / tiles;
}

// Computes rows [m0, m1) and blocks [b0, b1) of g.
typedef void (*kn_gemm_fn)(const kn_gemm* g, int m0, int m1, int b0, int b1);

// ---- weight-only int8: float activations, int8 weights -------------------------------------------
// C[m][n] = clamp(sum_k A[m][k] * (scale[n] * B[n][k]) + bias[n], lo, hi): TFLite's float
// FULLY_CONNECTED on the DEQUANTIZE of B (zero point 0), the weights dequantized in registers.
// scale × int8 rounded to float is exactly what TFLite's DEQUANTIZE stores (the product of a
// float and an 8-bit integer rounded once, in float or in double), so the results differ from
// TFLite's only in the order of the sums.
//
// Packed B (kn_wpack): Np = N rounded up to 16 columns; block j holds columns 16j..16j+15 as K
// rows of 16 bytes (column c of row k at byte k*16 + c of the block); padding columns are zero
// and have scale 0.
typedef struct {
  const float* a;       // M rows of K floats, stride a_stride floats
  size_t a_stride;
  const int8_t* b;      // packed B
  int k;
  const float* scale;   // Np column scales
  const float* bias;    // Np column biases (0 where none)
  float lo, hi;         // the activation's clamp
  float* c;             // output rows of c_stride floats
  size_t c_stride;
  int m, n;
} kn_wgemm;

// Computes rows [m0, m1) and blocks [b0, b1) of g.
typedef void (*kn_wgemm_fn)(const kn_wgemm* g, int m0, int m1, int b0, int b1);

size_t kn_wpacked_size(int n, int k);
// Rows of A a kernel takes through all its column blocks before the next rows (a multiple of
// its tile's mr): as many as stay in the core's cache beside the weights, so that many rows
// (a vision tower's 577) are not read again from memory for every block.
int kn_wrows_per_pass(int k, int mr);
void kn_wpack(const int8_t* b, int n, int k, int8_t* dst);
void kn_wgemm_generic(const kn_wgemm* g, int m0, int m1, int b0, int b1);
// By instruction set (wgemm_amd64.c, wgemm_arm64.c); the int8 paths of kn_paths name them.
void kn_wgemm_avx512(const kn_wgemm* g, int m0, int m1, int b0, int b1);
void kn_wgemm_avx2(const kn_wgemm* g, int m0, int m1, int b0, int b1);
void kn_wgemm_neon(const kn_wgemm* g, int m0, int m1, int b0, int b1);

typedef struct {
  const char* name;  // as package kernels names it
  unsigned needs;    // KN_CPU_* bits the CPU must have
  kn_akind akind;
  kn_gemm_fn gemm;
  int mr;            // rows per micro-tile: work is split in multiples of it
  bool split_pairs;  // B goes through kn_split_pairs after packing (vpmaddubsw's int16 pair sums)
  kn_wgemm_fn wgemm; // weight-only int8
  int wmr;           // its rows per micro-tile
} kn_path;

// Paths compiled into this binary, best first; kn_path_supported says which this CPU runs.
const kn_path* const* kn_paths(int* n);
int kn_path_supported(const kn_path* p);
const kn_path* kn_path_by_name(const char* name);

// Packs B (N rows of K int8, row stride ldb; transposed: element (n,k) at b[k*ldb + n]) into
// dst of kn_packed_size bytes, and writes its N column sums (for the compensation) to sums.
size_t kn_packed_size(int n, int k);
void kn_pack_b(const int8_t* b, int n, int k, size_t ldb, int transposed, int8_t* dst, int32_t* sums);
// vpmaddubsw adds the products of a pair of k (unsigned a up to 255 times signed b) in int16 with
// saturation: exact while |b0| + |b1| <= 128 (255 * 128 < 32768). For every pair of packed B (n
// columns) above that, B keeps b0 and the part of b1 that fits, and the rest of b1 becomes a fix
// the kernel adds itself. Writes at most cap fixes and start[0..blocks] (may be NULL to count);
// returns the number of fixes, -1 when there are more than cap. Random-init weights have about 3 in 10 000 such pairs.
int kn_split_pairs(int8_t* packed, int n, int kp, kn_fix* fix, int cap, int32_t* start);

// Prepares one row of x (K int8) into dst (Kp elements of the path's kind); returns the sum
// of the prepared elements when want_sum (needed only when B has a zero point), else 0.
int32_t kn_prepare_row(kn_akind kind, const int8_t* x, int k, int kp, int32_t zx, int want_sum, void* dst);
int32_t kn_aoffset(kn_akind kind, int32_t zx);  // off in a = x + off

// col[n] and row term factor for B with zero point zb: see kn_gemm. Writes Np values.
void kn_compensation(kn_akind kind, int32_t zx, int32_t zb, int k, const int32_t* bias,
                     const int32_t* colsums, int n, int32_t* col);

// Portable kernels (every CPU), used by the x86 and Arm files for edge tiles too.
void kn_gemm_generic(const kn_gemm* g, int m0, int m1, int b0, int b1);

// ---- int8 lookup tables (lut.c) -------------------------------------------------------------------
// Tables of 256 values indexed by the chain root's byte + 128: out[v] is what TFLite's int8 MUL
// of a[v] and b[v] (their scales and zero points given) writes, or its int8 LOGISTIC of x[v].
void kn_lut_mul(const int8_t* a, float sa, int32_t za, const int8_t* b, float sb, int32_t zb, float so, int32_t zo,
                int8_t* out);
void kn_lut_logistic(const int8_t* x, float sx, int32_t zx, float so, int32_t zo, int8_t* out);
// y[i] = table[x[i] + 128] for i < n, with the instructions isa names (the caller checked the
// CPU has them).
typedef enum { KN_LUT_SCALAR, KN_LUT_VBMI, KN_LUT_AVX2, KN_LUT_NEON } kn_lut_isa;
void kn_lut_apply(const int8_t* table, const int8_t* x, int8_t* y, size_t n, kn_lut_isa isa);
// The lookup's instructions for a kernel path: vpermb with the AVX-512 path where the CPU has
// VBMI, vpshufb with the 256-bit ones, tbl with the Arm ones, else scalar.
kn_lut_isa kn_lut_isa_for(const kn_path* path);

// ---- thread pool -----------------------------------------------------------------------------
// The caller and threads-1 workers. Between jobs a worker spins at most spin_ns (yielding its
// core to any other runnable thread) and then sleeps on a condition variable, so the layers of
// one Invoke find it awake and an idle process does not spin (pool.c says why).
typedef struct kn_pool kn_pool;
kn_pool* kn_pool_create(int threads, long spin_ns);
void kn_pool_destroy(kn_pool* p);
int kn_pool_threads(const kn_pool* p);
// How many workers sleep on the condition variable now.
int kn_pool_sleeping(kn_pool* p);
// Runs fn(arg, t, thread) for t in [0, tasks) on the caller (thread 0) and the workers
// (1..threads-1); returns when all are done.
void kn_pool_run(kn_pool* p, void (*fn)(void* arg, int task, int thread), void* arg, int tasks);
// For the tests: runs jobs jobs of tasks tasks; the number of tasks not run exactly once.
int kn_pool_check(kn_pool* p, int jobs, int tasks);
// For the tests: ends n spins, preempted[i] saying which were preempted; calm[i] whether spin
// i made the pool stop spinning for a while. Returns how many did.
int kn_pool_calm_check(kn_pool* p, const int* preempted, int n, int* calm);

// ---- CPU features ----------------------------------------------------------------------------
enum {
  KN_CPU_AVX2 = 1 << 0,
  KN_CPU_AVX512VNNI = 1 << 1,  // with AVX512F/BW/VL and the OS saving zmm state
  KN_CPU_AVXVNNI = 1 << 2,
  KN_CPU_ASIMD = 1 << 3,
  KN_CPU_DOTPROD = 1 << 4,
  KN_CPU_AVX512VBMI = 1 << 5,  // vpermb: the lookup tables 64 bytes at a time
};
unsigned kn_cpu_features(void);

// ---- layer norm (layernorm.c) -----------------------------------------------------------------
// A layer norm as the converter writes it (MEAN, SUB, MUL, MEAN, ADD eps, SQRT, DIV, MUL gamma,
// ADD beta over the last axis, in float), with the int8 QUANTIZE that alone reads its result
// when there is one: its nodes, and the tensors only they read and write.
typedef struct {
  int nodes[10];  // node indices, in that order
  int nnodes;     // 9, or 10 with the QUANTIZE
  int inner[9];   // tensors written and read only inside the chain
  int ninner;
  int x, eps, gamma, beta;
  int out;        // the last node's output: float, or int8 after the QUANTIZE
} kn_ln_chain;

// The layer norms among the plan's nodes not yet delegated, in *chains (free it); -1 when out
// of memory.
int kn_ln_find(TfLiteContext* ctx, const TfLiteIntArray* plan, kn_ln_chain** chains);

typedef struct {
  const float* x;  // rows of d floats
  const float *gamma, *beta;
  float eps;
  int rows, d;
  int quantized;   // int8 output with scale and zp (TFLite's QUANTIZE), else float
  float scale;
  int32_t zp;
  void* y;
  size_t y_stride;  // int8 output: bytes from row to row (a FULLY_CONNECTED's prepared rows: Kp)
  uint8_t y_xor;    // int8 output: flips these bits of each value (0x80: kn_akind KN_A_U8's x + 128)
  int simd;        // the AVX2 rows (x86-64 CPUs with AVX2 and FMA), else the reference rows
} kn_ln;

// Computes ln's rows on the pool: TFLite's results bit for bit (layernorm.c says how).
void kn_ln_run(kn_pool* pool, const kn_ln* ln);

// ---- delegate --------------------------------------------------------------------------------
typedef struct kn_delegate kn_delegate;
// Creates the delegate; NULL when out of memory. batch_matmul: also claim int8 BATCH_MATMUL.
// act_dequantize: also claim the DEQUANTIZE of computed int8 tensors. spin_ns: how long the
// pool's workers spin for the next operator before they sleep.
kn_delegate* kn_delegate_create(const kn_path* path, int threads, int batch_matmul, int act_dequantize, long spin_ns);
void kn_delegate_delete(kn_delegate* d);
TfLiteDelegate* kn_delegate_tflite(kn_delegate* d);
// What the last Prepare claimed.
void kn_delegate_stats(const kn_delegate* d, int* graph_nodes, int* nodes, int* partitions, int* fc, int* bmm,
                       int* conv, int* wfc, int* transpose, int* deq, int* lut, int* ln);

#endif  // EDGED_KERNELS_H_
