// arm64 kernels, reading the packed layout of kernels.h with A as plain int8 (x itself; the
// zero point is folded into the column terms):
//
//   neon-dot: sdot (the dot product extension: Cortex-A76 and later, Pi 5, Jetson Orin),
//             4 rows × 16 columns, one sdot per 4 columns × 4 k; compiled with a target
//             attribute so the file builds for any arm64 CPU.
//   neon:     smull + sadalp (every arm64 CPU, Pi 4), 2 rows × 16 columns: each column keeps
//             two partial sums, added at the end.
//
// The output stage rounds once, as the arm64 TFLite library does (kernels.h).
#include <arm_neon.h>
#include <string.h>

#include "kernels.h"

#define INLINE static inline __attribute__((always_inline))
#define TDOT __attribute__((target("arch=armv8.2-a+dotprod")))

typedef struct {
  const kn_requant* rq;
  int32x4_t zp, lo, hi;
} rq_neon;

INLINE rq_neon rq_neon_init(const kn_requant* rq) {
  rq_neon r = {.rq = rq, .zp = vdupq_n_s32(rq->out_zp), .lo = vdupq_n_s32(rq->qmin), .hi = vdupq_n_s32(rq->qmax)};
  return r;
}

// Four accumulators of columns col..col+3 to four int32 in [qmin, qmax], as kn_requant_one
// (single rounding): sqdmulh is the product's high half rounded down, and srshl's rounding then
// rounds the whole (floor((floor(p / 2^31) + 2^(e-1)) / 2^e) = floor((p + 2^(30+e)) / 2^(31+e)));
// without a shift, sqrdmulh rounds the product itself.
INLINE int32x4_t rq4(const rq_neon* r, int col, int32x4_t acc) {
  const int32x4_t mult = vld1q_s32(r->rq->mult + col);
  const int32x4_t rs = vld1q_s32(r->rq->rshift + col);
  const int32x4_t x = vshlq_s32(acc, vld1q_s32(r->rq->lshift + col));
  const int32x4_t shifted = vrshlq_s32(vqdmulhq_s32(x, mult), vnegq_s32(rs));
  const int32x4_t h = vbslq_s32(vcgtq_s32(rs, vdupq_n_s32(0)), shifted, vqrdmulhq_s32(x, mult));
  const int32x4_t q = vaddq_s32(h, r->zp);
  return vminq_s32(vmaxq_s32(q, r->lo), r->hi);
}

// Adds the column and row terms to the 16 sums of row m, block j, and stores them.
INLINE void store16(const kn_gemm* g, const rq_neon* r, int m, int j, int32x4_t s0, int32x4_t s1,
                    int32x4_t s2, int32x4_t s3) {
  const int col = j * KN_NB;
  const int32_t* cv = g->col + col;
  const int32x4_t row = vdupq_n_s32(g->row != NULL ? g->row[m] : 0);
  s0 = rq4(r, col, vaddq_s32(vaddq_s32(s0, vld1q_s32(cv)), row));
  s1 = rq4(r, col + 4, vaddq_s32(vaddq_s32(s1, vld1q_s32(cv + 4)), row));
  s2 = rq4(r, col + 8, vaddq_s32(vaddq_s32(s2, vld1q_s32(cv + 8)), row));
  s3 = rq4(r, col + 12, vaddq_s32(vaddq_s32(s3, vld1q_s32(cv + 12)), row));
  const int16x8_t lo = vcombine_s16(vmovn_s32(s0), vmovn_s32(s1));
  const int16x8_t hi = vcombine_s16(vmovn_s32(s2), vmovn_s32(s3));
  const int8x16_t v = vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
  int8_t* dst = g->c + (size_t)m * g->c_stride + col;
  const int left = g->n - col;
  if (left >= 16) {
    vst1q_s8(dst, v);
  } else {
    int8_t tmp[16];
    vst1q_s8(tmp, v);
    memcpy(dst, tmp, (size_t)left);
  }
}

// ---- neon-dot ------------------------------------------------------------------------------------

INLINE TDOT void tiledot(const kn_gemm* g, const rq_neon* r, int m, int j, const int MR) {
  const int32x4_t z = vdupq_n_s32(0);
  int32x4_t c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z;
  int32x4_t c20 = z, c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z;
  const int8_t* a0 = (const int8_t*)g->a + (size_t)m * g->a_stride;
  const int8_t* a1 = a0 + (MR > 1 ? g->a_stride : 0);
  const int8_t* a2 = a1 + (MR > 2 ? g->a_stride : 0);
  const int8_t* a3 = a2 + (MR > 3 ? g->a_stride : 0);
  const int8_t* b = g->b + (size_t)j * g->kp * KN_NB;
  for (int k = 0; k < g->kp; k += 16) {
    const int8x16_t x0 = vld1q_s8(a0 + k);
    const int8x16_t x1 = MR > 1 ? vld1q_s8(a1 + k) : x0;
    const int8x16_t x2 = MR > 2 ? vld1q_s8(a2 + k) : x0;
    const int8x16_t x3 = MR > 3 ? vld1q_s8(a3 + k) : x0;
    const int8_t* p = b + (size_t)k * KN_NB;
    // Group l covers k+4l..k+4l+3: lane l of each row's 16 bytes.
#define GROUP(l)                                                                        \
    {                                                                                   \
      const int8x16_t w0 = vld1q_s8(p + 64 * l), w1 = vld1q_s8(p + 64 * l + 16);        \
      const int8x16_t w2 = vld1q_s8(p + 64 * l + 32), w3 = vld1q_s8(p + 64 * l + 48);   \
      c00 = vdotq_laneq_s32(c00, w0, x0, l);                                            \
      c01 = vdotq_laneq_s32(c01, w1, x0, l);                                            \
      c02 = vdotq_laneq_s32(c02, w2, x0, l);                                            \
      c03 = vdotq_laneq_s32(c03, w3, x0, l);                                            \
      if (MR > 1) {                                                                     \
        c10 = vdotq_laneq_s32(c10, w0, x1, l);                                          \
        c11 = vdotq_laneq_s32(c11, w1, x1, l);                                          \
        c12 = vdotq_laneq_s32(c12, w2, x1, l);                                          \
        c13 = vdotq_laneq_s32(c13, w3, x1, l);                                          \
      }                                                                                 \
      if (MR > 2) {                                                                     \
        c20 = vdotq_laneq_s32(c20, w0, x2, l);                                          \
        c21 = vdotq_laneq_s32(c21, w1, x2, l);                                          \
        c22 = vdotq_laneq_s32(c22, w2, x2, l);                                          \
        c23 = vdotq_laneq_s32(c23, w3, x2, l);                                          \
      }                                                                                 \
      if (MR > 3) {                                                                     \
        c30 = vdotq_laneq_s32(c30, w0, x3, l);                                          \
        c31 = vdotq_laneq_s32(c31, w1, x3, l);                                          \
        c32 = vdotq_laneq_s32(c32, w2, x3, l);                                          \
        c33 = vdotq_laneq_s32(c33, w3, x3, l);                                          \
      }                                                                                 \
    }
    GROUP(0) GROUP(1) GROUP(2) GROUP(3)
#undef GROUP
  }
  store16(g, r, m, j, c00, c01, c02, c03);
  if (MR > 1) store16(g, r, m + 1, j, c10, c11, c12, c13);
  if (MR > 2) store16(g, r, m + 2, j, c20, c21, c22, c23);
  if (MR > 3) store16(g, r, m + 3, j, c30, c31, c32, c33);
}

#define TILEDOT(mr) \
  static TDOT __attribute__((noinline)) void tiledot_##mr(const kn_gemm* g, const rq_neon* r, int m, int j) { tiledot(g, r, m, j, mr); }
TILEDOT(1) TILEDOT(2) TILEDOT(3) TILEDOT(4)

typedef void (*tile_fn)(const kn_gemm*, const rq_neon*, int, int);
static const tile_fn tilesdot[5] = {0, tiledot_1, tiledot_2, tiledot_3, tiledot_4};

static void gemm_neondot(const kn_gemm* g, int m0, int m1, int b0, int b1) {
  const rq_neon r = rq_neon_init(g->rq);
  for (int j = b0; j < b1; j++) {
    for (int m = m0, mr; m < m1; m += mr) {
      mr = kn_tile_rows(m1 - m, 4);
      tilesdot[mr](g, &r, m, j);
    }
  }
}

const kn_path kn_path_neondot = {
    .name = "neon-dot", .needs = KN_CPU_DOTPROD, .akind = KN_A_S8, .gemm = gemm_neondot, .mr = 4,
    .wgemm = kn_wgemm_neon, .wmr = 4,
};

// ---- neon ----------------------------------------------------------------------------------------

// Rows m..m+MR-1 (MR <= 2), block j. Each accumulator holds two partial sums of two columns.
INLINE void tileneon(const kn_gemm* g, const rq_neon* r, int m, int j, const int MR) {
  const int32x4_t z = vdupq_n_s32(0);
  int32x4_t l00 = z, h00 = z, l01 = z, h01 = z, l02 = z, h02 = z, l03 = z, h03 = z;
  int32x4_t l10 = z, h10 = z, l11 = z, h11 = z, l12 = z, h12 = z, l13 = z, h13 = z;
  const int8_t* a0 = (const int8_t*)g->a + (size_t)m * g->a_stride;
  const int8_t* a1 = a0 + (MR > 1 ? g->a_stride : 0);
  const int8_t* b = g->b + (size_t)j * g->kp * KN_NB;
  for (int k = 0; k < g->kp; k += 4) {
    int32_t v0, v1;
    memcpy(&v0, a0 + k, 4);
    memcpy(&v1, a1 + k, 4);
    // x[k..k+3] repeated: each 8-byte half meets two columns' 4 weights.
    const int8x16_t x0 = vreinterpretq_s8_s32(vdupq_n_s32(v0));
    const int8x16_t x1 = vreinterpretq_s8_s32(vdupq_n_s32(v1));
    const int8_t* p = b + (size_t)k * KN_NB;
#define COLS(v)                                                                              \
    {                                                                                        \
      const int8x16_t w = vld1q_s8(p + 16 * v);                                              \
      l0##v = vpadalq_s16(l0##v, vmull_s8(vget_low_s8(w), vget_low_s8(x0)));                \
      h0##v = vpadalq_s16(h0##v, vmull_high_s8(w, x0));                                      \
      if (MR > 1) {                                                                          \
        l1##v = vpadalq_s16(l1##v, vmull_s8(vget_low_s8(w), vget_low_s8(x1)));              \
        h1##v = vpadalq_s16(h1##v, vmull_high_s8(w, x1));                                    \
      }                                                                                      \
    }
    COLS(0) COLS(1) COLS(2) COLS(3)
#undef COLS
  }
  // [c0 c0 c1 c1] and [c2 c2 c3 c3] pairwise: [c0 c1 c2 c3].
  store16(g, r, m, j, vpaddq_s32(l00, h00), vpaddq_s32(l01, h01), vpaddq_s32(l02, h02), vpaddq_s32(l03, h03));
  if (MR > 1) {
    store16(g, r, m + 1, j, vpaddq_s32(l10, h10), vpaddq_s32(l11, h11), vpaddq_s32(l12, h12),
            vpaddq_s32(l13, h13));
  }
}

static __attribute__((noinline)) void tileneon_1(const kn_gemm* g, const rq_neon* r, int m, int j) {
  tileneon(g, r, m, j, 1);
}
static __attribute__((noinline)) void tileneon_2(const kn_gemm* g, const rq_neon* r, int m, int j) {
  tileneon(g, r, m, j, 2);
}

static void gemm_neon(const kn_gemm* g, int m0, int m1, int b0, int b1) {
  const rq_neon r = rq_neon_init(g->rq);
  for (int j = b0; j < b1; j++) {
    for (int m = m0; m < m1; m += 2) (m1 - m >= 2 ? tileneon_2 : tileneon_1)(g, &r, m, j);
  }
}

const kn_path kn_path_neon = {
    .name = "neon", .needs = KN_CPU_ASIMD, .akind = KN_A_S8, .gemm = gemm_neon, .mr = 2,
    .wgemm = kn_wgemm_neon, .wmr = 4,
};
