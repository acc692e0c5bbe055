// arm64 weight-only int8 kernel (kernels.h, kn_wgemm), for the neon and neon-dot paths alike:
// each k row of a packed block, 16 int8 weights, is widened to 4 × 4 int32, converted to float
// and multiplied by the column scales (TFLite's DEQUANTIZE, exactly), then meets a broadcast
// activation in one FMA per row of the tile: 4 rows × 16 columns (16 accumulators).
#include <arm_neon.h>
#include <string.h>

#include "kernels.h"

#define INLINE static inline __attribute__((always_inline))

// Adds the bias to the 16 sums of row m, columns col..col+15, clamps and stores those < n.
INLINE void store16(const kn_wgemm* g, int m, int col, float32x4_t a0, float32x4_t a1, float32x4_t a2,
                    float32x4_t a3) {
  const float32x4_t lo = vdupq_n_f32(g->lo), hi = vdupq_n_f32(g->hi);
  const float* b = g->bias + col;
  float y[KN_NB];
  vst1q_f32(y, vminq_f32(vmaxq_f32(vaddq_f32(a0, vld1q_f32(b)), lo), hi));
  vst1q_f32(y + 4, vminq_f32(vmaxq_f32(vaddq_f32(a1, vld1q_f32(b + 4)), lo), hi));
  vst1q_f32(y + 8, vminq_f32(vmaxq_f32(vaddq_f32(a2, vld1q_f32(b + 8)), lo), hi));
  vst1q_f32(y + 12, vminq_f32(vmaxq_f32(vaddq_f32(a3, vld1q_f32(b + 12)), lo), hi));
  const int left = g->n - col;
  memcpy(g->c + (size_t)m * g->c_stride + col, y, sizeof(float) * (size_t)(left < KN_NB ? left : KN_NB));
}

INLINE void wtileneon(const kn_wgemm* g, int m, int j, const int MR) {
  float32x4_t acc[4][4];
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = vdupq_n_f32(0);
  const float* a = g->a + (size_t)m * g->a_stride;
  const int8_t* b = g->b + (size_t)j * g->k * KN_NB;
  const int col = j * KN_NB;
  const float32x4_t s0 = vld1q_f32(g->scale + col), s1 = vld1q_f32(g->scale + col + 4);
  const float32x4_t s2 = vld1q_f32(g->scale + col + 8), s3 = vld1q_f32(g->scale + col + 12);
  for (int k = 0; k < g->k; k++) {
    const int8x16_t q = vld1q_s8(b + (size_t)k * KN_NB);
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    float32x4_t w[4];
    w[0] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), s0);
    w[1] = vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), s1);
    w[2] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), s2);
    w[3] = vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), s3);
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++) {
      const float32x4_t x = vld1q_dup_f32(a + (size_t)i * g->a_stride + k);
      acc[i][0] = vfmaq_f32(acc[i][0], x, w[0]);
      acc[i][1] = vfmaq_f32(acc[i][1], x, w[1]);
      acc[i][2] = vfmaq_f32(acc[i][2], x, w[2]);
      acc[i][3] = vfmaq_f32(acc[i][3], x, w[3]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++) store16(g, m + i, col, acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
}

#define WTILENEON(mr) \
  static __attribute__((noinline)) void wtileneon_##mr(const kn_wgemm* g, int m, int j) { wtileneon(g, m, j, mr); }
WTILENEON(1) WTILENEON(2) WTILENEON(3) WTILENEON(4)

typedef void (*wtile_fn)(const kn_wgemm*, int, int);
static const wtile_fn wtilesneon[5] = {0, wtileneon_1, wtileneon_2, wtileneon_3, wtileneon_4};

void kn_wgemm_neon(const kn_wgemm* g, int m0, int m1, int b0, int b1) {
  const int mc = kn_wrows_per_pass(g->k, 4);
  for (int c0 = m0; c0 < m1; c0 += mc) {
    const int c1 = m1 - c0 < mc ? m1 : c0 + mc;
    for (int j = b0; j < b1; j++) {
      for (int m = c0; m < c1; m += 4) wtilesneon[c1 - m < 4 ? c1 - m : 4](g, m, j);
    }
  }
}
