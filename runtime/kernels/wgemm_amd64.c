// x86-64 weight-only int8 kernels (kernels.h, kn_wgemm): each k row of a packed block, 16 int8
// weights, is sign-extended, converted to float and multiplied by the column scales (TFLite's
// DEQUANTIZE, exactly), then meets a broadcast activation in one FMA per row of the tile.
//
//   avx512: 8 rows × 32 columns per tile (16 zmm accumulators).
//   avx2:   4 rows × 16 columns (8 ymm accumulators); the avx-vnni path uses it too.
#include <immintrin.h>

#include "kernels.h"

#define INLINE static inline __attribute__((always_inline))
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define TAVX2 __attribute__((target("avx2,fma")))

// ---- AVX-512 -------------------------------------------------------------------------------------

INLINE T512 __m512 dq512(const int8_t* p, __m512 s) {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128((const __m128i*)p))), s);
}

// Adds the bias to the 16 sums of row m, columns col..col+15, clamps and stores them.
INLINE T512 void store512(const kn_wgemm* g, int m, int col, __m512 acc) {
  const int left = g->n - col;
  const __mmask16 keep = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
  const __m512 y = _mm512_add_ps(acc, _mm512_load_ps(g->bias + col));
  _mm512_mask_storeu_ps(g->c + (size_t)m * g->c_stride + col, keep,
                        _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(g->lo)), _mm512_set1_ps(g->hi)));
}

// Rows m..m+MR-1, blocks j..j+NV-1. Loops over constants: the compiler unrolls them and keeps
// the accumulators in registers.
INLINE T512 void wtile512(const kn_wgemm* g, int m, int j, const int MR, const int NV) {
  __m512 acc[8][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  const float* a = g->a + (size_t)m * g->a_stride;
  const size_t bs = (size_t)g->k * KN_NB;
  const int8_t* b = g->b + (size_t)j * bs;
  const int col = j * KN_NB;
  const __m512 s0 = _mm512_load_ps(g->scale + col);
  const __m512 s1 = NV > 1 ? _mm512_load_ps(g->scale + col + KN_NB) : s0;
  for (int k = 0; k < g->k; k++) {
    const int8_t* p = b + (size_t)k * KN_NB;
    const __m512 w0 = dq512(p, s0);
    const __m512 w1 = NV > 1 ? dq512(p + bs, s1) : w0;
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m512 x = _mm512_set1_ps(a[(size_t)i * g->a_stride + k]);
      acc[i][0] = _mm512_fmadd_ps(x, w0, acc[i][0]);
      if (NV > 1) acc[i][1] = _mm512_fmadd_ps(x, w1, acc[i][1]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    store512(g, m + i, col, acc[i][0]);
    if (NV > 1) store512(g, m + i, col + KN_NB, acc[i][1]);
  }
}

#define WTILE512(mr, nv) \
  static T512 __attribute__((noinline)) void wtile512_##mr##_##nv(const kn_wgemm* g, int m, int j) { wtile512(g, m, j, mr, nv); }
WTILE512(1, 2) WTILE512(2, 2) WTILE512(3, 2) WTILE512(4, 2) WTILE512(5, 2) WTILE512(6, 2) WTILE512(7, 2) WTILE512(8, 2)
WTILE512(1, 1) WTILE512(2, 1) WTILE512(3, 1) WTILE512(4, 1) WTILE512(5, 1) WTILE512(6, 1) WTILE512(7, 1) WTILE512(8, 1)

typedef void (*wtile_fn)(const kn_wgemm*, int, int);
static const wtile_fn wtiles512_2[9] = {0, wtile512_1_2, wtile512_2_2, wtile512_3_2, wtile512_4_2,
                                        wtile512_5_2, wtile512_6_2, wtile512_7_2, wtile512_8_2};
static const wtile_fn wtiles512_1[9] = {0, wtile512_1_1, wtile512_2_1, wtile512_3_1, wtile512_4_1,
                                        wtile512_5_1, wtile512_6_1, wtile512_7_1, wtile512_8_1};

T512 void kn_wgemm_avx512(const kn_wgemm* g, int m0, int m1, int b0, int b1) {
  const int mc = kn_wrows_per_pass(g->k, 8);
  for (int c0 = m0; c0 < m1; c0 += mc) {
    const int c1 = m1 - c0 < mc ? m1 : c0 + mc;
    for (int j = b0; j < b1; j += 2) {
      const wtile_fn* tiles = j + 1 < b1 ? wtiles512_2 : wtiles512_1;
      for (int m = c0; m < c1; m += 8) tiles[c1 - m < 8 ? c1 - m : 8](g, m, j);
    }
  }
}

// ---- AVX2 ----------------------------------------------------------------------------------------

INLINE TAVX2 __m256 dq256(const int8_t* p, __m256 s) {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p))), s);
}

// Adds the bias to the 8 sums of row m, columns col..col+7, clamps and stores those < n.
INLINE TAVX2 void store256(const kn_wgemm* g, int m, int col, __m256 acc) {
  const int left = g->n - col;
  if (left <= 0) return;
  __m256 y = _mm256_add_ps(acc, _mm256_load_ps(g->bias + col));
  y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(g->lo)), _mm256_set1_ps(g->hi));
  float* dst = g->c + (size_t)m * g->c_stride + col;
  if (left >= 8) {
    _mm256_storeu_ps(dst, y);
  } else {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(dst, _mm256_cmpgt_epi32(_mm256_set1_epi32(left), idx), y);
  }
}

// Rows m..m+MR-1 (MR <= 4), block j: two ymm of 8 columns per row.
INLINE TAVX2 void wtileavx2(const kn_wgemm* g, int m, int j, const int MR) {
  __m256 acc[4][2];
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const float* a = g->a + (size_t)m * g->a_stride;
  const int8_t* b = g->b + (size_t)j * g->k * KN_NB;
  const int col = j * KN_NB;
  const __m256 s0 = _mm256_load_ps(g->scale + col), s1 = _mm256_load_ps(g->scale + col + 8);
  for (int k = 0; k < g->k; k++) {
    const int8_t* p = b + (size_t)k * KN_NB;
    const __m256 w0 = dq256(p, s0), w1 = dq256(p + 8, s1);
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++) {
      const __m256 x = _mm256_broadcast_ss(a + (size_t)i * g->a_stride + k);
      acc[i][0] = _mm256_fmadd_ps(x, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(x, w1, acc[i][1]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++) {
    store256(g, m + i, col, acc[i][0]);
    store256(g, m + i, col + 8, acc[i][1]);
  }
}

#define WTILEAVX2(mr) \
  static TAVX2 __attribute__((noinline)) void wtileavx2_##mr(const kn_wgemm* g, int m, int j) { wtileavx2(g, m, j, mr); }
WTILEAVX2(1) WTILEAVX2(2) WTILEAVX2(3) WTILEAVX2(4)

static const wtile_fn wtilesavx2[5] = {0, wtileavx2_1, wtileavx2_2, wtileavx2_3, wtileavx2_4};

TAVX2 void kn_wgemm_avx2(const kn_wgemm* g, int m0, int m1, int b0, int b1) {
  const int mc = kn_wrows_per_pass(g->k, 4);
  for (int c0 = m0; c0 < m1; c0 += mc) {
    const int c1 = m1 - c0 < mc ? m1 : c0 + mc;
    for (int j = b0; j < b1; j++) {
      for (int m = c0; m < c1; m += 4) wtilesavx2[c1 - m < 4 ? c1 - m : 4](g, m, j);
    }
  }
}
