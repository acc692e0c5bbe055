// The paths compiled into this binary, best first, and which of them this CPU runs.
#include <string.h>

#include "kernels.h"

static const kn_path generic = {
    .name = "generic", .needs = 0, .akind = KN_A_S8, .gemm = kn_gemm_generic, .mr = 1, .wgemm = kn_wgemm_generic, .wmr = 1,
};

#if defined(__x86_64__)
extern const kn_path kn_path_avx512vnni, kn_path_avxvnni, kn_path_avx2;
static const kn_path* const all[] = {&kn_path_avx512vnni, &kn_path_avxvnni, &kn_path_avx2, &generic};
#elif defined(__aarch64__)
extern const kn_path kn_path_neondot, kn_path_neon;
static const kn_path* const all[] = {&kn_path_neondot, &kn_path_neon, &generic};
#else
static const kn_path* const all[] = {&generic};
#endif

const kn_path* const* kn_paths(int* n) {
  *n = (int)(sizeof all / sizeof all[0]);
  return all;
}

int kn_path_supported(const kn_path* p) { return (kn_cpu_features() & p->needs) == p->needs; }

const kn_path* kn_path_by_name(const char* name) {
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(all[i]->name, name) == 0) return all[i];
  }
  return NULL;
}
