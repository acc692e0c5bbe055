// CPU features the kernels need, read once: cpuid and xgetbv on x86-64 (the instruction sets
// and whether the OS saves the registers they use), getauxval(AT_HWCAP) on arm64.
#include "kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static unsigned detect(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx) return 0;
  const uint64_t xcr0 = xgetbv0();
  const int ymm_state = (xcr0 & 0x6) == 0x6;      // SSE and AVX state
  const int zmm_state = (xcr0 & 0xe6) == 0xe6;    // and opmask, ZMM0-15 upper, ZMM16-31
  if (!ymm_state) return 0;
  unsigned max_leaf = __get_cpuid_max(0, NULL);
  if (max_leaf < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned leaf7_b = b, leaf7_c = c, leaf7_max_sub = a;
  unsigned f = 0;
  if (((leaf7_b >> 5) & 1) && fma) f |= KN_CPU_AVX2;
  const int avx512f = (leaf7_b >> 16) & 1, avx512bw = (leaf7_b >> 30) & 1, avx512vl = (leaf7_b >> 31) & 1;
  const int avx512vnni = (leaf7_c >> 11) & 1;
  if (zmm_state && avx512f && avx512bw && avx512vl && avx512vnni) f |= KN_CPU_AVX512VNNI;
  if (zmm_state && avx512f && avx512bw && ((leaf7_c >> 1) & 1)) f |= KN_CPU_AVX512VBMI;
  if (leaf7_max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    if (((a >> 4) & 1) && (f & KN_CPU_AVX2)) f |= KN_CPU_AVXVNNI;
  }
  return f;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

static unsigned detect(void) {
  const unsigned long hw = getauxval(AT_HWCAP);
  unsigned f = 0;
  if (hw & HWCAP_ASIMD) f |= KN_CPU_ASIMD;
  if ((hw & HWCAP_ASIMDDP) && (hw & HWCAP_ASIMD)) f |= KN_CPU_DOTPROD;
  return f;
}

#else
static unsigned detect(void) { return 0; }
#endif

unsigned kn_cpu_features(void) {
  // Bit 31 marks the value as read; racing first calls compute the same value.
  static unsigned cached;
  unsigned f = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (f == 0) {
    f = detect() | 0x80000000u;
    __atomic_store_n(&cached, f, __ATOMIC_RELAXED);
  }
  return f & 0x7fffffffu;
}
