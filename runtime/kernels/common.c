// What every path shares: TFLite's requantization in scalar form, packing of B, preparing
// rows of A, the zero-point compensation, and the portable kernel.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

void kn_quantize_multiplier(double real, int32_t* mult, int* shift) {
  if (real == 0.0) {
    *mult = 0;
    *shift = 0;
    return;
  }
  int e = 0;
  const double q = frexp(real, &e);  // real = q * 2^e, q in [0.5, 1)
  int64_t f = (int64_t)round(q * (double)(1ll << 31));
  if (f == (1ll << 31)) {  // q rounded up to 1
    f /= 2;
    e++;
  }
  if (e < -31) {  // every bit would be shifted out
    e = 0;
    f = 0;
  }
  *mult = (int32_t)f;
  *shift = e;
}

double kn_product_multiplier(float in_scale, float w_scale, float out_scale) {
  // Measured: the product taken in double gives a multiplier a few units off, and results off
  // by one near ties.
  const float product = in_scale * w_scale;
  return (double)product / (double)out_scale;
}

int kn_requant_alloc(kn_requant* rq, int np) {
  kn_requant_free(rq);
  void* p = NULL;
  if (posix_memalign(&p, 64, (size_t)np * 3 * sizeof(int32_t)) != 0) return 0;
  memset(p, 0, (size_t)np * 3 * sizeof(int32_t));
  rq->mult = p;
  rq->lshift = rq->mult + np;
  rq->rshift = rq->lshift + np;
  rq->np = np;
  return 1;
}

void kn_requant_free(kn_requant* rq) {
  free(rq->mult);
  rq->mult = rq->lshift = rq->rshift = NULL;
  rq->np = 0;
}

void kn_requant_set(kn_requant* rq, int from, int to, double real) {
  int32_t mult = 0;
  int shift = 0;
  kn_quantize_multiplier(real, &mult, &shift);
  for (int i = from; i < to; i++) {
    rq->mult[i] = mult;
    rq->lshift[i] = shift > 0 ? shift : 0;
    rq->rshift[i] = shift > 0 ? 0 : -shift;
  }
}

int8_t kn_requant_one(const kn_requant* rq, int col, int32_t acc) {
  // acc * 2^lshift wraps as TFLite's int32 multiplication does.
  const int32_t x = (int32_t)((uint32_t)acc << rq->lshift[col]);
  const int64_t ab = (int64_t)x * (int64_t)rq->mult[col];
  const int e = rq->rshift[col];
  int32_t r;
  if (KN_SINGLE_ROUNDING) {
    r = (int32_t)((ab + (1ll << (30 + e))) >> (31 + e));
  } else {
    // The rounding doubling high multiply ((x*m + 2^30) / 2^31 rounded down, which is also the
    // gemmlowp form with its round-half-away nudge and division toward zero; it saturates
    // only for INT32_MIN * INT32_MIN, and the multiplier is positive), then the rounding
    // shift, written without hi + 2^(e-1), which could overflow.
    const int32_t hi = (int32_t)((ab + (1ll << 30)) >> 31);
    r = e == 0 ? hi : (hi >> e) + ((hi >> (e - 1)) & 1);
  }
  r += rq->out_zp;
  if (r < rq->qmin) r = rq->qmin;
  if (r > rq->qmax) r = rq->qmax;
  return (int8_t)r;
}

static int round_up(int v, int to) { return (v + to - 1) / to * to; }

size_t kn_packed_size(int n, int k) {
  return (size_t)round_up(n, KN_NB) * (size_t)round_up(k, KN_KALIGN);
}

void kn_pack_b(const int8_t* b, int n, int k, size_t ldb, int transposed, int8_t* dst, int32_t* sums) {
  const int np = round_up(n, KN_NB), kp = round_up(k, KN_KALIGN);
  const size_t bs = (size_t)kp * KN_NB;  // bytes per block
  memset(dst, 0, (size_t)np * kp);
  if (!transposed) {  // b[col][k]: each column's k run goes in 4-byte pieces, 64 bytes apart
    for (int col = 0; col < n; col++) {
      const int8_t* src = b + (size_t)col * ldb;
      int8_t* d = dst + (size_t)(col / KN_NB) * bs + (col % KN_NB) * 4;
      int kk = 0;
      for (; kk + 4 <= k; kk += 4) memcpy(d + (size_t)kk * KN_NB, src + kk, 4);
      for (; kk < k; kk++) d[(size_t)(kk & ~3) * KN_NB + (kk & 3)] = src[kk];
      int32_t s = 0;
      for (int i = 0; i < k; i++) s += src[i];
      sums[col] = s;
    }
    return;
  }
  // b[k][col]: each k row spreads over the blocks, 4 bytes apart within one.
  for (int col = 0; col < n; col++) sums[col] = 0;
  for (int kk = 0; kk < k; kk++) {
    const int8_t* src = b + (size_t)kk * ldb;
    int8_t* g = dst + (size_t)(kk & ~3) * KN_NB + (kk & 3);
    for (int col = 0; col < n; col++) {
      g[(size_t)(col / KN_NB) * bs + (col % KN_NB) * 4] = src[col];
      sums[col] += src[col];
    }
  }
}

int kn_split_pairs(int8_t* packed, int n, int kp, kn_fix* fix, int cap, int32_t* start) {
  const int blocks = round_up(n, KN_NB) / KN_NB;
  int count = 0;
  for (int j = 0; j < blocks; j++) {
    if (start != NULL) start[j] = count;
    int8_t* blk = packed + (size_t)j * kp * KN_NB;
    for (int k = 0; k < kp; k += 2) {
      for (int c = 0; c < KN_NB; c++) {
        int8_t* p = blk + (size_t)(k & ~3) * KN_NB + c * 4 + (k & 3);
        const int m0 = p[0] < 0 ? -p[0] : p[0], m1 = p[1] < 0 ? -p[1] : p[1];
        if (m0 + m1 <= 128) continue;
        const int keep = p[1] < 0 ? -(128 - m0) : 128 - m0;  // same sign, |keep| < |p[1]|
        if (fix != NULL) {
          if (count == cap) return -1;
          fix[count] = (kn_fix){.k = k + 1, .c = (int16_t)c, .r = (int16_t)(p[1] - keep)};
          p[1] = (int8_t)keep;
        }
        count++;
      }
    }
  }
  if (start != NULL) start[blocks] = count;
  return count;
}

int32_t kn_aoffset(kn_akind kind, int32_t zx) {
  switch (kind) {
    case KN_A_U8:
      return 128;
    default:
      return 0;
  }
}

int32_t kn_prepare_row(kn_akind kind, const int8_t* x, int k, int kp, int32_t zx, int want_sum, void* dst) {
  // Plain loops the compiler vectorizes; the sum only when B has a zero point.
  int32_t sum = 0;
  switch (kind) {
    case KN_A_U8: {
      uint8_t* d = dst;
      for (int i = 0; i < k; i++) d[i] = (uint8_t)x[i] ^ 0x80;
      memset(d + k, 0, (size_t)(kp - k));
      if (want_sum) {
        for (int i = 0; i < k; i++) sum += d[i];
      }
      break;
    }
    case KN_A_S8: {
      int8_t* d = dst;
      memcpy(d, x, (size_t)k);
      memset(d + k, 0, (size_t)(kp - k));
      if (want_sum) {
        for (int i = 0; i < k; i++) sum += x[i];
      }
      break;
    }
  }
  return sum;
}

void kn_compensation(kn_akind kind, int32_t zx, int32_t zb, int k, const int32_t* bias,
                     const int32_t* colsums, int n, int32_t* col) {
  // sum (x-zx)(b-zb) = sum a*b - zb*sum a - (off+zx)*sum b + K*(off+zx)*zb with a = x + off.
  // Unsigned arithmetic: the terms may wrap on the way, the true total fits in int32.
  const uint32_t oz = (uint32_t)(kn_aoffset(kind, zx) + zx);
  const uint32_t konst = (uint32_t)k * oz * (uint32_t)zb;
  const int np = round_up(n, KN_NB);
  for (int i = 0; i < np; i++) {
    if (i >= n) {
      col[i] = 0;
      continue;
    }
    uint32_t v = bias != NULL ? (uint32_t)bias[i] : 0;
    v -= oz * (uint32_t)colsums[i];
    v += konst;
    col[i] = (int32_t)v;
  }
}

void kn_gemm_generic(const kn_gemm* g, int m0, int m1, int b0, int b1) {
  for (int m = m0; m < m1; m++) {
    const char* arow = (const char*)g->a + (size_t)m * g->a_stride;
    for (int j = b0; j < b1; j++) {
      const int8_t* blk = g->b + (size_t)j * g->kp * KN_NB;
      for (int c = 0; c < KN_NB; c++) {
        const int col = j * KN_NB + c;
        if (col >= g->n) break;
        int32_t acc = 0;
        for (int kk = 0; kk < g->kp; kk++) {
          const int32_t a = g->akind == KN_A_U8 ? ((const uint8_t*)arow)[kk] : ((const int8_t*)arow)[kk];
          acc += a * blk[(kk / 4) * 64 + c * 4 + (kk % 4)];
        }
        uint32_t total = (uint32_t)acc + (uint32_t)g->col[col];
        if (g->row != NULL) total += (uint32_t)g->row[m];
        g->c[(size_t)m * g->c_stride + col] = kn_requant_one(g->rq, col, (int32_t)total);
      }
    }
  }
}
