// Layer norm: the nine float operators the converter writes for one (internal/graph/nn
// LayerNorm: MEAN, SUB, MUL, MEAN, ADD, SQRT, DIV, MUL, ADD) and, when one follows, the int8
// QUANTIZE of its result, claimed together and run as one operator over the pool, row by row.
//
// Exactly TFLite 2.9's own kernels (measured against the amd64 library):
//   - MEAN over the last axis is Eigen's colwise sum (optimized_ops::MeanGeneral), divided by
//     the float count. Eigen sums a row in SSE packets of 4 (the library is built for SSE:
//     rows summed in AVX's packets of 8, or in order, differ) from its first 16-byte aligned
//     element: two packet accumulators over pairs of packets, the second added into the first,
//     then one more packet if one is left, the packet reduced as (p0 + p2) + (p1 + p3), and
//     only then the elements before the aligned start and after the last packet, in order.
//     The order depends on where each row starts: for the MEAN of x, on x's address; for the
//     MEAN of the squares, on a tensor of TFLite's arena (64-byte aligned), so on the row's
//     offset.
//   - SUB, MUL, ADD, DIV clamp their result to [-FLT_MAX, FLT_MAX] (the float activation range
//     of NONE): an infinity becomes FLT_MAX, NaN stays. SQRT is sqrtf.
//   - QUANTIZE to int8 divides in double, rounds half away from zero (round), converts with
//     cvttsd2si (out of range or NaN: INT32_MIN), adds the zero point (wrapping) and clamps.
// The fast path computes finite rows without the clamps, with the same operations in the same
// order (no FMA contraction: this file is compiled with fp-contract off), and the quantization
// exactly (see ln_quantize8); a row where anything left the finite range is computed again by the
// reference path, clamps included.
#pragma GCC optimize("fp-contract=off")
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels.h"


// ---- finding the chains ----------------------------------------------------------------------

typedef struct {
  int count;    // (node, input) pairs reading the tensor
  int node[3];  // the first three readers' node indices
} ln_uses;

static bool ln_const(const TfLiteTensor* t) { return t->allocation_type == kTfLiteMmapRo && t->data.raw != NULL; }

static int64_t ln_elements(const TfLiteIntArray* dims) {
  int64_t n = 1;
  for (int i = 0; i < dims->size; i++) n *= dims->data[i];
  return n;
}

// The node index reading t when t has exactly one reader, else -1.
static int ln_only_reader(const ln_uses* u, int t) { return t >= 0 && u[t].count == 1 ? u[t].node[0] : -1; }

// Node idx when it is an unclaimed `code` with `nin` inputs and one output, else NULL.
static TfLiteNode* ln_node(TfLiteContext* ctx, int idx, int code, int nin) {
  TfLiteNode* node = NULL;
  TfLiteRegistration* reg = NULL;
  if (idx < 0 || ctx->GetNodeAndRegistration(ctx, idx, &node, &reg) != kTfLiteOk) return NULL;
  if (node->delegate != NULL || reg->builtin_code != code) return NULL;
  if (node->inputs->size != nin || node->outputs->size != 1 || node->outputs->data[0] < 0) return NULL;
  for (int i = 0; i < nin; i++) {
    if (node->inputs->data[i] < 0) return NULL;
  }
  return node;
}

// ADD, SUB, MUL and DIV's options start with the fused activation: only NONE (0).
static bool ln_no_activation(const TfLiteNode* node) {
  return node->builtin_data != NULL && *(const int*)node->builtin_data == 0;
}

static bool ln_float(const TfLiteContext* ctx, int t) { return ctx->tensors[t].type == kTfLiteFloat32; }

// A MEAN over the last axis (written as rank - 1) of a float tensor, keeping the dimension.
static bool ln_mean(const TfLiteContext* ctx, const TfLiteNode* node) {
  const TfLiteTensor *x = &ctx->tensors[node->inputs->data[0]], *ax = &ctx->tensors[node->inputs->data[1]];
  if (x->type != kTfLiteFloat32 || x->dims->size < 1 || x->dims->data[x->dims->size - 1] < 1 ||
      ctx->tensors[node->outputs->data[0]].type != kTfLiteFloat32) {
    return false;
  }
  if (node->builtin_data == NULL || !*(const bool*)node->builtin_data) return false;  // keep_dims
  if (ax->type != kTfLiteInt32 || !ln_const(ax) || ln_elements(ax->dims) != 1) return false;
  // Only the positive axis: TFLite's MeanGeneral compares it with the rank as given, and sums
  // an axis of -1 with its reference kernel, in another order.
  return ax->data.i32[0] == x->dims->size - 1;
}

// A constant float tensor broadcast along the last axis of x: d values, leading dimensions 1.
static bool ln_row_const(const TfLiteContext* ctx, int t, const TfLiteTensor* x) {
  const TfLiteTensor* c = &ctx->tensors[t];
  if (c->type != kTfLiteFloat32 || !ln_const(c) || c->dims->size < 1 || c->dims->size > x->dims->size) return false;
  const int d = x->dims->data[x->dims->size - 1];
  for (int i = 0; i < c->dims->size - 1; i++) {
    if (c->dims->data[i] != 1) return false;
  }
  return c->dims->data[c->dims->size - 1] == d;
}

// The other input of a commutative binary node, given one of them; -1 when neither is `t`.
static int ln_other(const TfLiteNode* node, int t) {
  if (node->inputs->data[0] == t) return node->inputs->data[1];
  if (node->inputs->data[1] == t) return node->inputs->data[0];
  return -1;
}

static bool ln_match(TfLiteContext* ctx, const ln_uses* u, int mean_idx, kn_ln_chain* c) {
  TfLiteNode* mean = ln_node(ctx, mean_idx, KN_OP_MEAN, 2);
  if (mean == NULL || !ln_mean(ctx, mean)) return false;
  const int x = mean->inputs->data[0], m = mean->outputs->data[0];
  const TfLiteTensor* xt = &ctx->tensors[x];
  // centered = x - mean
  const int sub_idx = ln_only_reader(u, m);
  TfLiteNode* sub = ln_node(ctx, sub_idx, KN_OP_SUB, 2);
  if (sub == NULL || !ln_no_activation(sub) || sub->inputs->data[0] != x || sub->inputs->data[1] != m) return false;
  const int cen = sub->outputs->data[0];
  if (!ln_float(ctx, cen) || u[cen].count != 3) return false;
  // squared = centered * centered and normalized = centered / std read it, nothing else.
  int sq_idx = -1, div_idx = -1;
  for (int i = 0; i < 3; i++) {
    TfLiteNode* n = ln_node(ctx, u[cen].node[i], KN_OP_MUL, 2);
    if (n != NULL && n->inputs->data[0] == cen && n->inputs->data[1] == cen && ln_no_activation(n)) {
      sq_idx = u[cen].node[i];
    } else {
      div_idx = u[cen].node[i];
    }
  }
  TfLiteNode* sq = ln_node(ctx, sq_idx, KN_OP_MUL, 2);
  if (sq == NULL) return false;
  const int sqt = sq->outputs->data[0];
  const int var_idx = ln_only_reader(u, sqt);
  TfLiteNode* var = ln_node(ctx, var_idx, KN_OP_MEAN, 2);
  if (!ln_float(ctx, sqt) || var == NULL || !ln_mean(ctx, var)) return false;
  const int vt = var->outputs->data[0];
  const int veps_idx = ln_only_reader(u, vt);
  TfLiteNode* veps = ln_node(ctx, veps_idx, KN_OP_ADD, 2);
  if (veps == NULL || !ln_no_activation(veps)) return false;
  const int eps = ln_other(veps, vt);
  if (eps < 0 || eps == vt || !ln_float(ctx, eps) || !ln_const(&ctx->tensors[eps]) ||
      ln_elements(ctx->tensors[eps].dims) != 1 || ctx->tensors[eps].dims->size > xt->dims->size) {
    return false;
  }
  const int vet = veps->outputs->data[0];
  const int sqrt_idx = ln_only_reader(u, vet);
  TfLiteNode* sqr = ln_node(ctx, sqrt_idx, KN_OP_SQRT, 1);
  if (!ln_float(ctx, vet) || sqr == NULL) return false;
  const int sd = sqr->outputs->data[0];
  TfLiteNode* div = ln_node(ctx, div_idx, KN_OP_DIV, 2);
  if (!ln_float(ctx, sd) || ln_only_reader(u, sd) != div_idx || div == NULL || !ln_no_activation(div) ||
      div->inputs->data[0] != cen || div->inputs->data[1] != sd) {
    return false;
  }
  const int nt = div->outputs->data[0];
  const int scale_idx = ln_only_reader(u, nt);
  TfLiteNode* scale = ln_node(ctx, scale_idx, KN_OP_MUL, 2);
  if (!ln_float(ctx, nt) || scale == NULL || !ln_no_activation(scale)) return false;
  const int gamma = ln_other(scale, nt);
  if (gamma < 0 || gamma == nt || !ln_row_const(ctx, gamma, xt)) return false;
  const int st = scale->outputs->data[0];
  const int shift_idx = ln_only_reader(u, st);
  TfLiteNode* shift = ln_node(ctx, shift_idx, KN_OP_ADD, 2);
  if (!ln_float(ctx, st) || shift == NULL || !ln_no_activation(shift)) return false;
  const int beta = ln_other(shift, st);
  if (beta < 0 || beta == st || !ln_row_const(ctx, beta, xt)) return false;
  const int y = shift->outputs->data[0];
  if (!ln_float(ctx, y)) return false;
  const int nodes[9] = {mean_idx, sub_idx, sq_idx, var_idx, veps_idx, sqrt_idx, div_idx, scale_idx, shift_idx};
  const int inner[8] = {m, cen, sqt, vt, vet, sd, nt, st};
  memcpy(c->nodes, nodes, sizeof nodes);
  memcpy(c->inner, inner, sizeof inner);
  c->nnodes = 9;
  c->ninner = 8;
  c->x = x;
  c->eps = eps;
  c->gamma = gamma;
  c->beta = beta;
  c->out = y;
  // The int8 QUANTIZE that alone reads the result, per tensor, with a scale the exact
  // quantization handles (quantize8).
  TfLiteNode* q = ln_node(ctx, ln_only_reader(u, y), KN_OP_QUANTIZE, 1);
  if (q != NULL) {
    const TfLiteTensor* qt = &ctx->tensors[q->outputs->data[0]];
    const TfLiteAffineQuantization* qp = qt->quantization.params;
    if (qt->type == kTfLiteInt8 && qt->quantization.type == kTfLiteAffineQuantization && qp != NULL &&
        qp->scale != NULL && qp->scale->size == 1 && qt->params.scale >= 1e-30f && qt->params.scale <= 1e30f &&
        qt->params.zero_point >= -128 && qt->params.zero_point <= 127) {
      c->nodes[c->nnodes++] = ln_only_reader(u, y);
      c->inner[c->ninner++] = y;
      c->out = q->outputs->data[0];
    }
  }
  return true;
}

int kn_ln_find(TfLiteContext* ctx, const TfLiteIntArray* plan, kn_ln_chain** chains) {
  *chains = NULL;
  ln_uses* u = calloc(ctx->tensors_size + 1, sizeof(ln_uses));
  if (u == NULL) return -1;
  int means = 0;
  for (int i = 0; i < plan->size; i++) {
    TfLiteNode* node = NULL;
    TfLiteRegistration* reg = NULL;
    if (ctx->GetNodeAndRegistration(ctx, plan->data[i], &node, &reg) != kTfLiteOk) continue;
    means += reg->builtin_code == KN_OP_MEAN;
    for (int j = 0; j < node->inputs->size; j++) {
      const int t = node->inputs->data[j];
      if (t < 0 || (size_t)t >= ctx->tensors_size) continue;
      if (u[t].count < 3) u[t].node[u[t].count] = plan->data[i];
      u[t].count++;
    }
  }
  kn_ln_chain* c = means > 0 ? calloc((size_t)means, sizeof(kn_ln_chain)) : NULL;
  if (means > 0 && c == NULL) {
    free(u);
    return -1;
  }
  int n = 0;
  for (int i = 0; i < plan->size && n < means; i++) {
    if (ln_match(ctx, u, plan->data[i], &c[n])) n++;
  }
  free(u);
  *chains = c;
  return n;
}

// ---- computing -------------------------------------------------------------------------------

// TFLite's float activation clamp of NONE; NaN passes.
static inline float ln_clamp(float v) { return v < -FLT_MAX ? -FLT_MAX : v > FLT_MAX ? FLT_MAX : v; }

// Eigen's sum of n values (as above) whose first aligned one is at `head` (< 4); v(i) gives value i.
#define LN_EIGEN_SUM(res, n, head, v)                                                 \
  do {                                                                                \
    const int n_ = (n), h_ = (head) < n_ ? (head) : n_;                               \
    const int al_ = (n_ - h_) / 4 * 4, al2_ = (n_ - h_) / 8 * 8;                      \
    if (al_ == 0) {                                                                   \
      res = v(0);                                                                     \
      for (int i_ = 1; i_ < n_; i_++) res += v(i_);                                   \
      break;                                                                          \
    }                                                                                 \
    float r0_[4], r1_[4];                                                             \
    for (int l_ = 0; l_ < 4; l_++) r0_[l_] = v(h_ + l_);                              \
    if (al_ > 4) {                                                                    \
      for (int l_ = 0; l_ < 4; l_++) r1_[l_] = v(h_ + 4 + l_);                        \
      for (int i_ = h_ + 8; i_ < h_ + al2_; i_ += 8) {                                \
        for (int l_ = 0; l_ < 4; l_++) {                                              \
          r0_[l_] += v(i_ + l_);                                                      \
          r1_[l_] += v(i_ + 4 + l_);                                                  \
        }                                                                             \
      }                                                                               \
      for (int l_ = 0; l_ < 4; l_++) r0_[l_] += r1_[l_];                              \
      if (al_ > al2_) {                                                               \
        for (int l_ = 0; l_ < 4; l_++) r0_[l_] += v(h_ + al2_ + l_);                  \
      }                                                                               \
    }                                                                                 \
    res = (r0_[0] + r0_[2]) + (r0_[1] + r0_[3]);                                      \
    for (int i_ = 0; i_ < h_; i_++) res += v(i_);                                     \
    for (int i_ = h_ + al_; i_ < n_; i_++) res += v(i_);                              \
  } while (0)

// Elements before the first 16-byte aligned one of a row at p (Eigen's first_aligned).
static inline int ln_head(const void* p, int n) {
  const uintptr_t a = (uintptr_t)p;
  if (a % sizeof(float) != 0) return n;
  return (int)((4 - (a / sizeof(float)) % 4) % 4);
}

// Row r's head in a 64-byte aligned tensor of rows of d floats.
static inline int ln_arena_head(int r, int d) { return (int)((4 - ((int64_t)r * d) % 4) % 4); }

// TFLite's QUANTIZE of one float (see the top).
static inline int8_t ln_quantize_ref(float v, double scale, int32_t zp) {
  const double t = round((double)v / scale);
  const int32_t q = t >= -2147483648.0 && t < 2147483648.0 ? (int32_t)t : INT32_MIN;
  const int32_t s = (int32_t)((uint32_t)q + (uint32_t)zp);
  return (int8_t)(s < -128 ? -128 : s > 127 ? 127 : s);
}

// One row as TFLite's kernels compute it, clamps included.
static void ln_row_ref(const kn_ln* ln, int r) {
  const int d = ln->d;
  const float* x = ln->x + (size_t)r * d;
  float mean, var;
#define LN_X(i) x[i]
  LN_EIGEN_SUM(mean, d, ln_head(x, d), LN_X);
  mean = mean / (float)d;
#define LN_SQ(i) ln_clamp(ln_clamp(x[i] - mean) * ln_clamp(x[i] - mean))
  LN_EIGEN_SUM(var, d, ln_arena_head(r, d), LN_SQ);
  var = var / (float)d;
  const float sd = sqrtf(ln_clamp(var + ln->eps));
  for (int j = 0; j < d; j++) {
    const float c = ln_clamp(x[j] - mean);
    const float y = ln_clamp(ln_clamp(ln_clamp(c / sd) * ln->gamma[j]) + ln->beta[j]);
    if (ln->quantized) {
      ((int8_t*)ln->y)[(size_t)r * ln->y_stride + j] = (int8_t)(ln_quantize_ref(y, (double)ln->scale, ln->zp) ^ ln->y_xor);
    } else {
      ((float*)ln->y)[(size_t)r * d + j] = y;
    }
  }
#undef LN_X
#undef LN_SQ
}

#if defined(__x86_64__)
#define LN_AVX2 __attribute__((target("avx2,fma")))

// Rows summed together: their additions are independent, so they overlap.
#define LN_ROWS 4

// Eigen's sums of the LN_ROWS rows x[k] (of d values; x[k] - m[k] squared when sq), heads
// h[k]: the pairs of packets on 8-float vectors, two rows' lanes at a time, the rest scalar.
LN_AVX2 static void ln_sums(const float* const x[LN_ROWS], const int h[LN_ROWS], int d, const float* m, int sq,
                            float out[LN_ROWS]) {
  int pairs[LN_ROWS], common = d;
  for (int k = 0; k < LN_ROWS; k++) {
    pairs[k] = (d - h[k]) / 8;
    if (pairs[k] < common) common = pairs[k];
  }
  __m256 acc[LN_ROWS], mv[LN_ROWS];
  for (int k = 0; k < LN_ROWS; k++) {
    mv[k] = _mm256_set1_ps(sq ? m[k] : 0.f);
    acc[k] = _mm256_setzero_ps();
  }
#define LN_LOAD(k, i) (sq ? _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x[k] + (i)), mv[k]), \
                                          _mm256_sub_ps(_mm256_loadu_ps(x[k] + (i)), mv[k]))  \
                          : _mm256_loadu_ps(x[k] + (i)))
  if (common >= 1) {
    for (int k = 0; k < LN_ROWS; k++) acc[k] = LN_LOAD(k, h[k]);
    for (int p = 1; p < common; p++) {
      for (int k = 0; k < LN_ROWS; k++) acc[k] = _mm256_add_ps(acc[k], LN_LOAD(k, h[k] + 8 * p));
    }
  }
  for (int k = 0; k < LN_ROWS; k++) {
    const float* xr = x[k];
    const float mk = sq ? m[k] : 0.f;
#define LN_V(i) (sq ? (xr[i] - mk) * (xr[i] - mk) : xr[i])
    if (pairs[k] < 1 || common < 1) {
      float s;
      LN_EIGEN_SUM(s, d, h[k], LN_V);
      out[k] = s;
      continue;
    }
    for (int p = common; p < pairs[k]; p++) acc[k] = _mm256_add_ps(acc[k], LN_LOAD(k, h[k] + 8 * p));
    __m128 r0 = _mm_add_ps(_mm256_castps256_ps128(acc[k]), _mm256_extractf128_ps(acc[k], 1));
    const int al = (d - h[k]) / 4 * 4, al2 = pairs[k] * 8;
    if (al > al2) {
      __m128 v = _mm_loadu_ps(xr + h[k] + al2);
      if (sq) {
        const __m128 c = _mm_sub_ps(v, _mm_set1_ps(mk));
        v = _mm_mul_ps(c, c);
      }
      r0 = _mm_add_ps(r0, v);
    }
    float l[4];
    _mm_storeu_ps(l, r0);
    float s = (l[0] + l[2]) + (l[1] + l[3]);
    for (int i = 0; i < h[k]; i++) s += LN_V(i);
    for (int i = h[k] + al; i < d; i++) s += LN_V(i);
    out[k] = s;
#undef LN_V
  }
#undef LN_LOAD
}

// round(v / scale) + zp, v / scale rounded half away from zero, for 8 values: TFLite's double
// quotient's rounding. t = v · (1/scale) + zp (one FMA) is within 2^-13 of v / scale + zp
// while |t| < 1200, so its nearest integer is right unless t is within 2^-10 of a half
// (beyond, the output saturates either way), and a float over a float is never within 2^-26
// of a half integer without being one. *check says which lanes are within, or |t| >= 2^30
// or NaN (near cvttsd2si's range; one compare on max(|t - n| · 2^31, |t|)):
// ln_quantize8_exact, or ln_quantize_ref, does them.
LN_AVX2 static inline __m256i ln_quantize8(__m256 v, __m256 inv, __m256 zp, __m256* check) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  const __m256 t = _mm256_fmadd_ps(v, inv, zp);
  const __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 off = _mm256_mul_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(t, n)), _mm256_set1_ps(2147483648.f));
  *check = _mm256_cmp_ps(_mm256_max_ps(_mm256_andnot_ps(sign, t), off), _mm256_set1_ps(1073741824.f - 2097152.f),
                         _CMP_NLE_UQ);  // max returns off when either is NaN
  return _mm256_cvtps_epi32(n);
}

// ln_quantize8 exactly for |v| / scale < 2^20 (else *big is set): n, the nearest integer to
// |v| · (1/scale), is within one of the result; the signs of |v| - (n ± 1/2) · scale, each
// computed exactly by one FMA, say which.
LN_AVX2 static __m256i ln_quantize8_exact(__m256 v, __m256 scale, __m256 inv, __m256* big) {
  const __m256 sign = _mm256_set1_ps(-0.f), half = _mm256_set1_ps(0.5f);
  const __m256 a = _mm256_andnot_ps(sign, v);
  const __m256 t = _mm256_mul_ps(a, inv);
  *big = _mm256_cmp_ps(t, _mm256_set1_ps(1048576.f), _CMP_NLT_UQ);
  const __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 hi = _mm256_fnmadd_ps(_mm256_add_ps(n, half), scale, a);  // a - (n + 1/2) · scale
  const __m256 lo = _mm256_fnmadd_ps(_mm256_sub_ps(n, half), scale, a);
  const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(hi, _mm256_setzero_ps(), _CMP_GE_OQ));  // -1: one more
  const __m256i down = _mm256_castps_si256(_mm256_cmp_ps(lo, _mm256_setzero_ps(), _CMP_LT_OQ));
  const __m256i q = _mm256_add_epi32(_mm256_sub_epi32(_mm256_cvttps_epi32(n), up), down);
  const __m256i neg = _mm256_srai_epi32(_mm256_castps_si256(v), 31);
  return _mm256_sub_epi32(_mm256_xor_si256(q, neg), neg);
}

// The 8 values v of which ln_quantize8 flagged some, quantized exactly into y; a non-finite
// one sets *bad (its row is redone).
LN_AVX2 static void ln_fix8(const kn_ln* ln, __m256 v, __m256 scale, __m256 inv, __m256i zp, int8_t* y, __m256* bad) {
  __m256 big;
  const __m256i e = _mm256_add_epi32(ln_quantize8_exact(v, scale, inv, &big), zp);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(e), _mm256_extracti128_si256(e, 1));
  _mm_storel_epi64((__m128i*)y, _mm_xor_si128(_mm_packs_epi16(w, w), _mm_set1_epi8((char)ln->y_xor)));
  if (_mm256_testz_ps(big, big)) return;
  float f[8];
  _mm256_storeu_ps(f, v);
  for (int l = 0; l < 8; l++) {
    if (!(fabsf(f[l]) <= FLT_MAX)) *bad = big;
    y[l] = (int8_t)(ln_quantize_ref(f[l], (double)ln->scale, ln->zp) ^ ln->y_xor);
  }
}

// Rows [r0, r0 + nr) (nr <= LN_ROWS); rows whose values left the finite range are done again
// by ln_row_ref.
LN_AVX2 static void ln_rows_avx2(const kn_ln* ln, int r0, int nr) {
  const int d = ln->d;
  const float* x[LN_ROWS];
  int h[LN_ROWS];
  for (int k = 0; k < LN_ROWS; k++) {
    const int r = r0 + (k < nr ? k : nr - 1);  // repeats the last row to fill the group
    x[k] = ln->x + (size_t)r * d;
    h[k] = ln_head(x[k], d);
  }
  float mean[LN_ROWS], var[LN_ROWS];
  ln_sums(x, h, d, NULL, 0, mean);
  for (int k = 0; k < LN_ROWS; k++) {
    mean[k] = mean[k] / (float)d;
    h[k] = ln_arena_head(r0 + (k < nr ? k : nr - 1), d);
  }
  ln_sums(x, h, d, mean, 1, var);
  const __m256 scale = _mm256_set1_ps(ln->scale), inv = _mm256_set1_ps(1.f / ln->scale);
  const __m256i zp = _mm256_set1_epi32(ln->zp);
  const __m256 zpf = _mm256_set1_ps((float)ln->zp);
  for (int k = 0; k < nr; k++) {
    const int r = r0 + k;
    const float ve = (var[k] / (float)d) + ln->eps;
    if (!(fabsf(ve) <= FLT_MAX)) {
      ln_row_ref(ln, r);
      continue;
    }
    const float sd = sqrtf(ve);
    const __m256 mv = _mm256_set1_ps(mean[k]), sv = _mm256_set1_ps(sd);
    const float* xr = x[k];
    __m256 bad = _mm256_setzero_ps();
    int j = 0;
    if (ln->quantized) {
      int8_t* y = (int8_t*)ln->y + (size_t)r * ln->y_stride;
      const __m256i flip = _mm256_set1_epi8((char)ln->y_xor);
#define LN_Y(j) _mm256_add_ps(_mm256_mul_ps(_mm256_div_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + (j)), mv), sv), \
                                            _mm256_loadu_ps(ln->gamma + (j))),                               \
                              _mm256_loadu_ps(ln->beta + (j)))
      // 32 values at a time: one pack of four vectors and one store.
      for (; j + 32 <= d; j += 32) {
        __m256 v[4], check[4];
        __m256i q[4];
        for (int u = 0; u < 4; u++) {
          v[u] = LN_Y(j + 8 * u);
          q[u] = ln_quantize8(v[u], inv, zpf, &check[u]);
        }
        const __m256i b8 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        // Per 128-bit lane the packs interleave 4 values of each vector: put them back in order.
        _mm256_storeu_si256((__m256i*)(y + j),
                            _mm256_xor_si256(_mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)), flip));
        const __m256 any = _mm256_or_ps(_mm256_or_ps(check[0], check[1]), _mm256_or_ps(check[2], check[3]));
        if (!_mm256_testz_ps(any, any)) {  // a value near a tie: about one vector in 60
          for (int u = 0; u < 4; u++) {
            if (!_mm256_testz_ps(check[u], check[u])) ln_fix8(ln, v[u], scale, inv, zp, y + j + 8 * u, &bad);
          }
        }
      }
      for (; j + 8 <= d; j += 8) {
        const __m256 v = LN_Y(j);
        __m256 check;
        const __m256i q = ln_quantize8(v, inv, zpf, &check);
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i*)(y + j), _mm_xor_si128(_mm_packs_epi16(w, w), _mm256_castsi256_si128(flip)));
        if (!_mm256_testz_ps(check, check)) ln_fix8(ln, v, scale, inv, zp, y + j, &bad);
      }
#undef LN_Y
      for (; j < d; j++) {
        const float v = ((xr[j] - mean[k]) / sd) * ln->gamma[j] + ln->beta[j];
        if (!(fabsf(v) <= FLT_MAX)) bad = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        y[j] = (int8_t)(ln_quantize_ref(v, (double)ln->scale, ln->zp) ^ ln->y_xor);
      }
    } else {
      float* y = (float*)ln->y + (size_t)r * d;
      const __m256 big = _mm256_set1_ps(FLT_MAX), sign = _mm256_set1_ps(-0.f);
      for (; j + 8 <= d; j += 8) {
        const __m256 c = _mm256_sub_ps(_mm256_loadu_ps(xr + j), mv);
        const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_div_ps(c, sv), _mm256_loadu_ps(ln->gamma + j)),
                                       _mm256_loadu_ps(ln->beta + j));
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_andnot_ps(sign, v), big, _CMP_NLE_UQ));
        _mm256_storeu_ps(y + j, v);
      }
      for (; j < d; j++) {
        const float v = ((xr[j] - mean[k]) / sd) * ln->gamma[j] + ln->beta[j];
        if (!(fabsf(v) <= FLT_MAX)) bad = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        y[j] = v;
      }
    }
    // Every value finite: no clamp applied anywhere (an infinite product or quotient would
    // have made the result infinite or NaN).
    if (!_mm256_testz_ps(bad, bad)) ln_row_ref(ln, r);
  }
}
#endif

// Rows per task of the pool.
#define LN_TASK_ROWS 4

static void ln_task(void* arg, int t, int thread) {
  (void)thread;
  const kn_ln* ln = arg;
  const int r0 = t * LN_TASK_ROWS;
  const int r1 = r0 + LN_TASK_ROWS < ln->rows ? r0 + LN_TASK_ROWS : ln->rows;
#if defined(__x86_64__)
  if (ln->simd) {
    ln_rows_avx2(ln, r0, r1 - r0);
    return;
  }
#endif
  for (int r = r0; r < r1; r++) ln_row_ref(ln, r);
}

void kn_ln_run(kn_pool* pool, const kn_ln* ln) {
  const int tasks = (ln->rows + LN_TASK_ROWS - 1) / LN_TASK_ROWS;
  kn_pool_run(pool, ln_task, (void*)ln, tasks);
}
