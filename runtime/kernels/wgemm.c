// Weight-only int8 (kernels.h, kn_wgemm): packing the weights, and the portable kernel that
// every SIMD kernel must equal up to the order of its sums.
#include <string.h>

#include "kernels.h"

static int round_up(int v, int to) { return (v + to - 1) / to * to; }

size_t kn_wpacked_size(int n, int k) { return (size_t)round_up(n, KN_NB) * (size_t)k; }

void kn_wpack(const int8_t* b, int n, int k, int8_t* dst) {
  const int np = round_up(n, KN_NB);
  memset(dst, 0, (size_t)np * k);
  for (int col = 0; col < n; col++) {
    const int8_t* src = b + (size_t)col * k;
    int8_t* d = dst + (size_t)(col / KN_NB) * k * KN_NB + col % KN_NB;
    for (int kk = 0; kk < k; kk++) d[(size_t)kk * KN_NB] = src[kk];
  }
}

int kn_wrows_per_pass(int k, int mr) {
  const int rows = (int)((128u << 10) / ((size_t)k * sizeof(float)));
  return rows < mr ? mr : rows / mr * mr;
}

void kn_wgemm_generic(const kn_wgemm* g, int m0, int m1, int b0, int b1) {
  for (int m = m0; m < m1; m++) {
    const float* a = g->a + (size_t)m * g->a_stride;
    for (int j = b0; j < b1; j++) {
      const int8_t* blk = g->b + (size_t)j * g->k * KN_NB;
      for (int c = 0; c < KN_NB; c++) {
        const int col = j * KN_NB + c;
        if (col >= g->n) break;
        const float s = g->scale[col];
        float acc = 0;
        for (int kk = 0; kk < g->k; kk++) acc += a[kk] * ((float)blk[(size_t)kk * KN_NB + c] * s);
        float y = acc + g->bias[col];
        if (y < g->lo) y = g->lo;
        if (y > g->hi) y = g->hi;
        g->c[(size_t)m * g->c_stride + col] = y;
      }
    }
  }
}
