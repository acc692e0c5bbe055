// x86-64 kernels. Each is compiled for its instruction set with a target attribute, so the
// binary runs on any x86-64 CPU and kn_path_supported decides which may be called.
//
//   avx512-vnni: vpdpbusd on zmm, 6 rows × 64 columns per tile (24 accumulators).
//   avx-vnni:    vpdpbusd on ymm (VEX: Alder Lake-N and later), 6 rows × 16 columns.
//   avx2:        vpmaddubsw and vpmaddwd by ones (vpdpbusd in two steps), 5 rows × 16 columns;
//                exact because the rare pairs of weights that could saturate vpmaddubsw's int16
//                sums are split at packing time (kn_split_pairs) and their rest added after.
//
// All read the packed layout of kernels.h and end in the same requantization as
// kn_requant_one, in SIMD.
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

#define INLINE static inline __attribute__((always_inline))
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define TVNNI __attribute__((target("avxvnni,avx2,fma")))
#define TAVX2 __attribute__((target("avx2,fma")))

static inline int32_t load32(const void* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

static inline int64_t load64(const void* p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}

// ---- AVX-512 -------------------------------------------------------------------------------------

// The output stage's per-operator constants; the per-column multipliers and shifts are loaded
// where they are used (kn_requant).
typedef struct {
  const kn_requant* rq;
  __m512i zp, lo, hi;
} rq512_t;

INLINE T512 rq512_t rq512_init(const kn_requant* rq) {
  rq512_t r = {.rq = rq, .zp = _mm512_set1_epi32(rq->out_zp), .lo = _mm512_set1_epi32(rq->qmin),
               .hi = _mm512_set1_epi32(rq->qmax)};
  return r;
}

// acc (16 int32 of columns col..col+15) to 16 int8, as kn_requant_one.
INLINE T512 __m128i rq512(const rq512_t* r, int col, __m512i acc) {
  const __m512i mult = _mm512_load_si512((const void*)(r->rq->mult + col));
  const __m512i rs = _mm512_load_si512((const void*)(r->rq->rshift + col));
  const __m512i x = _mm512_sllv_epi32(acc, _mm512_load_si512((const void*)(r->rq->lshift + col)));
  const __m512i round = _mm512_set1_epi64(1ll << 30);
  // 64-bit products of the even and the odd lanes; bits 31..62 of product + 2^30 are the
  // rounded doubling high product (a logical shift is fine: the high bits are dropped).
  __m512i pe = _mm512_mul_epi32(x, mult);
  __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32));
  pe = _mm512_srli_epi64(_mm512_add_epi64(pe, round), 31);
  po = _mm512_slli_epi64(_mm512_srli_epi64(_mm512_add_epi64(po, round), 31), 32);
  const __m512i h = _mm512_mask_blend_epi32(0xAAAA, pe, po);
  // The rounding shift right by e: (h >> e) + bit e-1 of h (no bit for e = 0).
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i rb = _mm512_srav_epi32(h, _mm512_max_epi32(_mm512_sub_epi32(rs, one), _mm512_setzero_si512()));
  __m512i q = _mm512_add_epi32(_mm512_srav_epi32(h, rs), _mm512_and_si512(rb, _mm512_min_epi32(rs, one)));
  q = _mm512_add_epi32(q, r->zp);
  q = _mm512_min_epi32(_mm512_max_epi32(q, r->lo), r->hi);
  return _mm512_cvtepi32_epi8(q);
}

// Adds the column and row terms to a tile's accumulators of block col/16, row m, and stores.
INLINE T512 void store512(const kn_gemm* g, const rq512_t* r, __m512i acc, int m, int col) {
  const int left = g->n - col;
  const __mmask16 keep = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
  __m512i s = _mm512_add_epi32(acc, _mm512_load_si512((const void*)(g->col + col)));
  if (g->row != NULL) s = _mm512_add_epi32(s, _mm512_set1_epi32(g->row[m]));
  _mm_mask_storeu_epi8(g->c + (size_t)m * g->c_stride + col, keep, rq512(r, col, s));
}

static T512 __attribute__((noinline)) void epilogue512(const kn_gemm* g, const rq512_t* r, const __m512i* acc,
                                                       int m, int j, int mr, int nv) {
  for (int i = 0; i < mr; i++) {
    for (int v = 0; v < nv; v++) store512(g, r, acc[4 * i + v], m + i, (j + v) * KN_NB);
  }
}

// One tile: rows m..m+MR-1 (MR <= 6), blocks j..j+NV-1 (NV is 1 or 4). The accumulators are
// named variables so that they stay in registers; the unused ones are compiled away. A non-NULL
// next is the weights of the blocks the caller does after these: the first row tile of a block
// fetches them into the cache as it goes (the weights come from memory once per inference, and
// the hardware prefetcher alone does not keep ahead: 6% of CLIP B/32 on avx-vnni).
INLINE T512 void tile512(const kn_gemm* g, const rq512_t* r, int m, int j, const int8_t* next, const int MR, const int NV) {
  const __m512i z = _mm512_setzero_si512();
  __m512i c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z;
  __m512i c20 = z, c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z;
  __m512i c40 = z, c41 = z, c42 = z, c43 = z, c50 = z, c51 = z, c52 = z, c53 = z;
  const uint8_t* a0 = (const uint8_t*)g->a + (size_t)m * g->a_stride;
  const uint8_t* a1 = a0 + (MR > 1 ? g->a_stride : 0);
  const uint8_t* a2 = a1 + (MR > 2 ? g->a_stride : 0);
  const uint8_t* a3 = a2 + (MR > 3 ? g->a_stride : 0);
  const uint8_t* a4 = a3 + (MR > 4 ? g->a_stride : 0);
  const uint8_t* a5 = a4 + (MR > 5 ? g->a_stride : 0);
  const size_t bs = (size_t)g->kp * KN_NB;
  const int8_t* b = kn_block(g, j);
  for (int k = 0; k < g->kp; k += 4) {
    const int8_t* p = b + (size_t)k * KN_NB;
    const __m512i w0 = _mm512_load_si512((const void*)p);
    __m512i w1 = z, w2 = z, w3 = z;
    if (NV > 1) {
      w1 = _mm512_load_si512((const void*)(p + bs));
      w2 = _mm512_load_si512((const void*)(p + 2 * bs));
      w3 = _mm512_load_si512((const void*)(p + 3 * bs));
    }
    if (next != NULL) {
      for (int v = 0; v < NV; v++) _mm_prefetch((const char*)(next + v * bs + (size_t)k * KN_NB), _MM_HINT_T0);
    }
#define ROW512(i)                                                     \
    if (MR > i) {                                                     \
      const __m512i x = _mm512_set1_epi32(load32(a##i + k));          \
      c##i##0 = _mm512_dpbusd_epi32(c##i##0, x, w0);                  \
      if (NV > 1) {                                                   \
        c##i##1 = _mm512_dpbusd_epi32(c##i##1, x, w1);                \
        c##i##2 = _mm512_dpbusd_epi32(c##i##2, x, w2);                \
        c##i##3 = _mm512_dpbusd_epi32(c##i##3, x, w3);                \
      }                                                               \
    }
    ROW512(0) ROW512(1) ROW512(2) ROW512(3) ROW512(4) ROW512(5)
#undef ROW512
  }
  // Through memory to a function of its own: with the requantization's constants also live,
  // the registers would not hold all 24 accumulators and the compiler would spill them inside
  // the loop instead.
  __m512i acc[24] __attribute__((aligned(64)));
#define SAVE512(i)                                                    \
  if (MR > i) {                                                       \
    acc[4 * i] = c##i##0;                                             \
    if (NV > 1) {                                                     \
      acc[4 * i + 1] = c##i##1;                                       \
      acc[4 * i + 2] = c##i##2;                                       \
      acc[4 * i + 3] = c##i##3;                                       \
    }                                                                 \
  }
  SAVE512(0) SAVE512(1) SAVE512(2) SAVE512(3) SAVE512(4) SAVE512(5)
#undef SAVE512
  epilogue512(g, r, acc, m, j, MR, NV);
}

#define TILE512(mr, nv) \
  static T512 __attribute__((noinline)) void tile512_##mr##_##nv(const kn_gemm* g, const rq512_t* r, int m, int j, const int8_t* next) { tile512(g, r, m, j, next, mr, nv); }
TILE512(1, 4) TILE512(2, 4) TILE512(3, 4) TILE512(4, 4) TILE512(5, 4) TILE512(6, 4)
TILE512(1, 1) TILE512(2, 1) TILE512(3, 1) TILE512(4, 1) TILE512(5, 1) TILE512(6, 1)

typedef void (*tile512_fn)(const kn_gemm*, const rq512_t*, int, int, const int8_t*);
static const tile512_fn tiles512_4[7] = {0, tile512_1_4, tile512_2_4, tile512_3_4, tile512_4_4, tile512_5_4, tile512_6_4};
static const tile512_fn tiles512_1[7] = {0, tile512_1_1, tile512_2_1, tile512_3_1, tile512_4_1, tile512_5_1, tile512_6_1};

static T512 void gemm_avx512vnni(const kn_gemm* g, int m0, int m1, int b0, int b1) {
  const rq512_t r = rq512_init(g->rq);
  for (int j = b0; j < b1;) {
    const int nv = b1 - j >= 4 ? 4 : 1;
    const int8_t* next = j + nv < b1 ? kn_block(g, j + nv) : NULL;
    for (int m = m0, mr; m < m1; m += mr) {
      mr = kn_tile_rows(m1 - m, 6);
      (nv == 4 ? tiles512_4 : tiles512_1)[mr](g, &r, m, j, m == m0 ? next : NULL);
    }
    j += nv;
  }
}

const kn_path kn_path_avx512vnni = {
    .name = "avx512-vnni", .needs = KN_CPU_AVX512VNNI, .akind = KN_A_U8, .gemm = gemm_avx512vnni, .mr = 6,
    .wgemm = kn_wgemm_avx512, .wmr = 8,
};

// ---- 256-bit requantization (AVX-VNNI and AVX2) ------------------------------------------------

typedef struct {
  const kn_requant* rq;
  __m256i zp, lo, hi;
} rq256_t;

INLINE TAVX2 rq256_t rq256_init(const kn_requant* rq) {
  rq256_t r = {.rq = rq, .zp = _mm256_set1_epi32(rq->out_zp), .lo = _mm256_set1_epi32(rq->qmin),
               .hi = _mm256_set1_epi32(rq->qmax)};
  return r;
}

// acc (8 int32 of columns col..col+7) to 8 int32 in [qmin, qmax], as kn_requant_one.
INLINE TAVX2 __m256i rq256(const rq256_t* r, int col, __m256i acc) {
  const __m256i mult = _mm256_load_si256((const __m256i*)(r->rq->mult + col));
  const __m256i rs = _mm256_load_si256((const __m256i*)(r->rq->rshift + col));
  const __m256i x = _mm256_sllv_epi32(acc, _mm256_load_si256((const __m256i*)(r->rq->lshift + col)));
  const __m256i round = _mm256_set1_epi64x(1ll << 30);
  __m256i pe = _mm256_mul_epi32(x, mult);
  __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32));
  pe = _mm256_srli_epi64(_mm256_add_epi64(pe, round), 31);
  po = _mm256_slli_epi64(_mm256_srli_epi64(_mm256_add_epi64(po, round), 31), 32);
  const __m256i h = _mm256_blend_epi32(pe, po, 0xAA);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i rb = _mm256_srav_epi32(h, _mm256_max_epi32(_mm256_sub_epi32(rs, one), _mm256_setzero_si256()));
  __m256i q = _mm256_add_epi32(_mm256_srav_epi32(h, rs), _mm256_and_si256(rb, _mm256_min_epi32(rs, one)));
  q = _mm256_add_epi32(q, r->zp);
  return _mm256_min_epi32(_mm256_max_epi32(q, r->lo), r->hi);
}

// Stores the low byte of each of the 8 lanes (values already in int8 range), n of them.
INLINE TAVX2 void store8(int8_t* dst, __m256i q, int n) {
  const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i b = _mm256_shuffle_epi8(q, pick);
  const __m128i v = _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
  if (n >= 8) {
    _mm_storel_epi64((__m128i*)dst, v);
  } else {
    int8_t tmp[16];
    _mm_storeu_si128((__m128i*)tmp, v);
    memcpy(dst, tmp, (size_t)n);
  }
}

// Adds the column and row terms to 8 accumulators of columns col..col+7 and stores them.
INLINE TAVX2 void epilogue8(const kn_gemm* g, const rq256_t* r, __m256i acc, int m, int col) {
  const int left = g->n - col;
  if (left <= 0) return;
  __m256i s = _mm256_add_epi32(acc, _mm256_load_si256((const __m256i*)(g->col + col)));
  if (g->row != NULL) s = _mm256_add_epi32(s, _mm256_set1_epi32(g->row[m]));
  store8(g->c + (size_t)m * g->c_stride + col, rq256(r, col, s), left);
}

// ---- AVX-VNNI ------------------------------------------------------------------------------------

// next: as tile512's.
INLINE TVNNI void tilevnni(const kn_gemm* g, const rq256_t* r, int m, int j, const int8_t* next, const int MR) {
  const __m256i z = _mm256_setzero_si256();
  __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z;
  __m256i c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  const uint8_t* a0 = (const uint8_t*)g->a + (size_t)m * g->a_stride;
  const uint8_t* a1 = a0 + (MR > 1 ? g->a_stride : 0);
  const uint8_t* a2 = a1 + (MR > 2 ? g->a_stride : 0);
  const uint8_t* a3 = a2 + (MR > 3 ? g->a_stride : 0);
  const uint8_t* a4 = a3 + (MR > 4 ? g->a_stride : 0);
  const uint8_t* a5 = a4 + (MR > 5 ? g->a_stride : 0);
  const int8_t* b = kn_block(g, j);
  for (int k = 0; k < g->kp; k += 4) {
    const __m256i w0 = _mm256_load_si256((const __m256i*)(b + (size_t)k * KN_NB));
    const __m256i w1 = _mm256_load_si256((const __m256i*)(b + (size_t)k * KN_NB + 32));
    if (next != NULL) _mm_prefetch((const char*)(next + (size_t)k * KN_NB), _MM_HINT_T0);
#define ROWVNNI(i)                                            \
    if (MR > i) {                                             \
      const __m256i x = _mm256_set1_epi32(load32(a##i + k));  \
      c##i##0 = _mm256_dpbusd_avx_epi32(c##i##0, x, w0);      \
      c##i##1 = _mm256_dpbusd_avx_epi32(c##i##1, x, w1);      \
    }
    ROWVNNI(0) ROWVNNI(1) ROWVNNI(2) ROWVNNI(3) ROWVNNI(4) ROWVNNI(5)
#undef ROWVNNI
  }
#define STOREVNNI(i)                                  \
  if (MR > i) {                                       \
    epilogue8(g, r, c##i##0, m + i, j * KN_NB);       \
    epilogue8(g, r, c##i##1, m + i, j * KN_NB + 8);   \
  }
  STOREVNNI(0) STOREVNNI(1) STOREVNNI(2) STOREVNNI(3) STOREVNNI(4) STOREVNNI(5)
#undef STOREVNNI
}

#define TILEVNNI(mr) \
  static TVNNI __attribute__((noinline)) void tilevnni_##mr(const kn_gemm* g, const rq256_t* r, int m, int j, const int8_t* next) { tilevnni(g, r, m, j, next, mr); }
TILEVNNI(1) TILEVNNI(2) TILEVNNI(3) TILEVNNI(4) TILEVNNI(5) TILEVNNI(6)

typedef void (*tile256_fn)(const kn_gemm*, const rq256_t*, int, int, const int8_t*);
static const tile256_fn tilesvnni[7] = {0, tilevnni_1, tilevnni_2, tilevnni_3, tilevnni_4, tilevnni_5, tilevnni_6};

static TVNNI void gemm_avxvnni(const kn_gemm* g, int m0, int m1, int b0, int b1) {
  const rq256_t r = rq256_init(g->rq);
  for (int j = b0; j < b1; j++) {
    const int8_t* next = j + 1 < b1 ? kn_block(g, j + 1) : NULL;
    for (int m = m0, mr; m < m1; m += mr) {
      mr = kn_tile_rows(m1 - m, 6);
      tilesvnni[mr](g, &r, m, j, m == m0 ? next : NULL);
    }
  }
}

const kn_path kn_path_avxvnni = {
    .name = "avx-vnni", .needs = KN_CPU_AVXVNNI, .akind = KN_A_U8, .gemm = gemm_avxvnni, .mr = 6,
    .wgemm = kn_wgemm_avx2, .wmr = 4,
};

// ---- AVX2 ----------------------------------------------------------------------------------------

// Adds block j's fixes (kn_split_pairs) to the accumulators t of rows m..m+mr-1.
static void add_fixes(const kn_gemm* g, int m, int j, int mr, int32_t (*t)[KN_NB]) {
  const uint8_t* a = g->a;
  for (int f = g->fix_start[j]; f < g->fix_start[j + 1]; f++) {
    const kn_fix x = g->fix[f];
    for (int i = 0; i < mr; i++) {
      const int32_t p = (int32_t)a[(size_t)(m + i) * g->a_stride + x.k] * x.r;
      t[i][x.c] = (int32_t)((uint32_t)t[i][x.c] + (uint32_t)p);  // wraps as the vector adds do
    }
  }
}

// As tilevnni with vpdpbusd in two steps: vpmaddubsw's int16 sums of pairs (exact: packed B went
// through kn_split_pairs) and vpmaddwd by ones to int32. MR <= 5: 10 accumulators, the weights,
// the ones, the broadcast and the products fill the 16 registers.
INLINE TAVX2 void tileavx2(const kn_gemm* g, const rq256_t* r, int m, int j, const int8_t* next, const int MR) {
  const __m256i z = _mm256_setzero_si256(), ones = _mm256_set1_epi16(1);
  __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z;
  const uint8_t* a0 = (const uint8_t*)g->a + (size_t)m * g->a_stride;
  const uint8_t* a1 = a0 + (MR > 1 ? g->a_stride : 0);
  const uint8_t* a2 = a1 + (MR > 2 ? g->a_stride : 0);
  const uint8_t* a3 = a2 + (MR > 3 ? g->a_stride : 0);
  const uint8_t* a4 = a3 + (MR > 4 ? g->a_stride : 0);
  const int8_t* b = kn_block(g, j);
  for (int k = 0; k < g->kp; k += 4) {
    const __m256i w0 = _mm256_load_si256((const __m256i*)(b + (size_t)k * KN_NB));
    const __m256i w1 = _mm256_load_si256((const __m256i*)(b + (size_t)k * KN_NB + 32));
    if (next != NULL) _mm_prefetch((const char*)(next + (size_t)k * KN_NB), _MM_HINT_T0);
#define ROWAVX2(i)                                                                               \
    if (MR > i) {                                                                                \
      const __m256i x = _mm256_set1_epi32(load32(a##i + k));                                     \
      c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones)); \
      c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones)); \
    }
    ROWAVX2(0) ROWAVX2(1) ROWAVX2(2) ROWAVX2(3) ROWAVX2(4)
#undef ROWAVX2
  }
  if (g->fix != NULL && g->fix_start[j] < g->fix_start[j + 1]) {
    int32_t t[5][KN_NB] __attribute__((aligned(32)));
#define FIXOUT(i)                                                 \
    if (MR > i) {                                                 \
      _mm256_store_si256((__m256i*)t[i], c##i##0);                \
      _mm256_store_si256((__m256i*)(t[i] + 8), c##i##1);          \
    }
#define FIXIN(i)                                                  \
    if (MR > i) {                                                 \
      c##i##0 = _mm256_load_si256((const __m256i*)t[i]);          \
      c##i##1 = _mm256_load_si256((const __m256i*)(t[i] + 8));    \
    }
    FIXOUT(0) FIXOUT(1) FIXOUT(2) FIXOUT(3) FIXOUT(4)
    add_fixes(g, m, j, MR, t);
    FIXIN(0) FIXIN(1) FIXIN(2) FIXIN(3) FIXIN(4)
#undef FIXOUT
#undef FIXIN
  }
#define STOREAVX2(i)                                  \
  if (MR > i) {                                       \
    epilogue8(g, r, c##i##0, m + i, j * KN_NB);       \
    epilogue8(g, r, c##i##1, m + i, j * KN_NB + 8);   \
  }
  STOREAVX2(0) STOREAVX2(1) STOREAVX2(2) STOREAVX2(3) STOREAVX2(4)
#undef STOREAVX2
}

#define TILEAVX2(mr) \
  static TAVX2 __attribute__((noinline)) void tileavx2_##mr(const kn_gemm* g, const rq256_t* r, int m, int j, const int8_t* next) { tileavx2(g, r, m, j, next, mr); }
TILEAVX2(1) TILEAVX2(2) TILEAVX2(3) TILEAVX2(4) TILEAVX2(5)

static const tile256_fn tilesavx2[6] = {0, tileavx2_1, tileavx2_2, tileavx2_3, tileavx2_4, tileavx2_5};

#ifndef KN_AVX2_MR
#define KN_AVX2_MR 5
#endif

static TAVX2 void gemm_avx2(const kn_gemm* g, int m0, int m1, int b0, int b1) {
  const rq256_t r = rq256_init(g->rq);
  for (int j = b0; j < b1; j++) {
    const int8_t* next = j + 1 < b1 ? kn_block(g, j + 1) : NULL;
    for (int m = m0, mr; m < m1; m += mr) {
      mr = kn_tile_rows(m1 - m, KN_AVX2_MR);
      tilesavx2[mr](g, &r, m, j, m == m0 ? next : NULL);
    }
  }
}

const kn_path kn_path_avx2 = {
    .name = "avx2", .needs = KN_CPU_AVX2, .akind = KN_A_U8, .gemm = gemm_avx2, .mr = KN_AVX2_MR, .split_pairs = true,
    .wgemm = kn_wgemm_avx2, .wmr = 4,
};
