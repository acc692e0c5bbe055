// Chains of int8 elementwise operators that are functions of one int8 tensor (CLIP's
// QuickGELU: x · σ(1.702 x) as MUL, LOGISTIC and MUL on fc1's output) become one table of 256
// bytes: every value an operator of the chain writes is a function of the byte of the chain's
// root. The tables are built with TFLite's own int8 arithmetic for each operator (below), so
// looking them up gives TFLite's results bit for bit (TestLookupTablesEqualTFLite).
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels.h"

// The output stage of TFLite's int8 MUL in the amd64 library (gemmlowp's scalar form): x
// shifted left (wrapping), the doubling high product rounded half away from zero, the shift
// right rounded half away from zero. The arm64 library's MUL (a NEON loop and a scalar tail)
// is not reproduced: under qemu its results differed from every form tried (wrapping where
// the products' left shift overflows among them), so on arm64 MUL is not claimed
// (delegate.c) and only LOGISTIC chains are tables.
static int32_t mul_by_multiplier(int32_t x, int32_t mult, int shift) {
  const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  const int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * mult;
  const int64_t nudge = ab >= 0 ? (1ll << 30) : 1 - (1ll << 30);
  const int32_t hi = (int32_t)((ab + nudge) / (1ll << 31));
  if (right == 0) return hi;
  const int32_t mask = (int32_t)((1u << right) - 1);
  const int32_t rem = hi & mask, threshold = (mask >> 1) + (hi < 0 ? 1 : 0);
  return (hi >> right) + (rem > threshold ? 1 : 0);
}

static int8_t clamp8(int32_t v) { return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }

void kn_lut_mul(const int8_t* a, float sa, int32_t za, const int8_t* b, float sb, int32_t zb, float so, int32_t zo,
                int8_t* out) {
  // TFLite: the scales' product and quotient in float, then QuantizeMultiplier in double.
  int32_t mult = 0;
  int shift = 0;
  kn_quantize_multiplier((double)(sa * sb / so), &mult, &shift);
  for (int v = 0; v < 256; v++) {
    const int32_t p = ((int32_t)a[v] - za) * ((int32_t)b[v] - zb);
    out[v] = clamp8(zo + mul_by_multiplier(p, mult, shift));
  }
}

void kn_lut_logistic(const int8_t* x, float sx, int32_t zx, float so, int32_t zo, int8_t* out) {
  // TFLite's int8 LOGISTIC is itself a table, filled in float: 1 / (1 + exp(-x)) of the
  // dequantized input, times 1 / output scale, rounded half away from zero.
  const float inverse = 1.0f / so;
  for (int v = 0; v < 256; v++) {
    const float dequantized = sx * (float)((int32_t)x[v] - zx);
    const float y = 1.0f / (1.0f + expf(-dequantized));
    const float rescaled = roundf(y * inverse);
    out[v] = clamp8((int32_t)(rescaled + (float)zo));
  }
}

#if defined(__x86_64__)
// 64 bytes at a time: two vpermi2b look up the table's halves (index bits 0-6), bit 7 picks.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void apply_vbmi(const int8_t* table, const int8_t* x,
                                                                              int8_t* y, size_t n) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  const __m512i bias = _mm512_set1_epi8((char)0x80);
  for (size_t i = 0; i < n; i += 64) {
    const __mmask64 m = n - i >= 64 ? ~0ull : (1ull << (n - i)) - 1;
    const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + i), bias);
    const __m512i lo = _mm512_permutex2var_epi8(t0, v, t1), hi = _mm512_permutex2var_epi8(t2, v, t3);
    _mm512_mask_storeu_epi8(y + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
}

// 32 bytes at a time: sixteen vpshufb, one per 16-entry row of the table. For row h the
// index's high nibble is made 0 where it was h and at least 8 elsewhere (xor, then a
// saturating add of 0x70), and vpshufb writes 0 where the index's top bit is set.
__attribute__((target("avx2"))) static void apply_avx2(const int8_t* table, const int8_t* x, int8_t* y, size_t n) {
  __m256i rows[16];
  for (int h = 0; h < 16; h++) rows[h] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)(table + 16 * h)));
  const __m256i bias = _mm256_set1_epi8((char)0x80), up = _mm256_set1_epi8(0x70);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(x + i)), bias);
    __m256i r = _mm256_setzero_si256();
    for (int h = 0; h < 16; h++) {
      const __m256i idx = _mm256_adds_epu8(_mm256_xor_si256(v, _mm256_set1_epi8((char)(h << 4))), up);
      r = _mm256_or_si256(r, _mm256_shuffle_epi8(rows[h], idx));
    }
    _mm256_storeu_si256((__m256i*)(y + i), r);
  }
  for (; i < n; i++) y[i] = table[(uint8_t)(x[i] ^ 0x80)];
}
#endif

#if defined(__aarch64__)
#include <arm_neon.h>
// 16 bytes at a time: four tbl lookups of 64 bytes each; an index outside a lookup's 64 gives 0.
static void apply_neon(const int8_t* table, const int8_t* x, int8_t* y, size_t n) {
  const int8x16x4_t t0 = vld1q_s8_x4(table), t1 = vld1q_s8_x4(table + 64);
  const int8x16x4_t t2 = vld1q_s8_x4(table + 128), t3 = vld1q_s8_x4(table + 192);
  const uint8x16_t bias = vdupq_n_u8(0x80), q = vdupq_n_u8(0x40);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8x16_t v = veorq_u8(vreinterpretq_u8_s8(vld1q_s8(x + i)), bias);
    int8x16_t r = vqtbl4q_s8(t0, v);
    r = vorrq_s8(r, vqtbl4q_s8(t1, vsubq_u8(v, q)));
    r = vorrq_s8(r, vqtbl4q_s8(t2, vsubq_u8(v, vaddq_u8(q, q))));
    r = vorrq_s8(r, vqtbl4q_s8(t3, vsubq_u8(v, vaddq_u8(q, vaddq_u8(q, q)))));
    vst1q_s8(y + i, r);
  }
  for (; i < n; i++) y[i] = table[(uint8_t)(x[i] ^ 0x80)];
}
#endif

void kn_lut_apply(const int8_t* table, const int8_t* x, int8_t* y, size_t n, kn_lut_isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case KN_LUT_VBMI:
      apply_vbmi(table, x, y, n);
      return;
    case KN_LUT_AVX2:
      apply_avx2(table, x, y, n);
      return;
#endif
#if defined(__aarch64__)
    case KN_LUT_NEON:
      apply_neon(table, x, y, n);
      return;
#endif
    default:
      for (size_t i = 0; i < n; i++) y[i] = table[(uint8_t)(x[i] ^ 0x80)];
  }
}

kn_lut_isa kn_lut_isa_for(const kn_path* path) {
  if ((path->needs & KN_CPU_AVX512VNNI) && (kn_cpu_features() & KN_CPU_AVX512VBMI)) return KN_LUT_VBMI;
  if (path->needs & (KN_CPU_AVX512VNNI | KN_CPU_AVXVNNI | KN_CPU_AVX2)) return KN_LUT_AVX2;
  if (path->needs & (KN_CPU_ASIMD | KN_CPU_DOTPROD)) return KN_LUT_NEON;
  return KN_LUT_SCALAR;
}
