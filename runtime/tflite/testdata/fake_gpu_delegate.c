// A stand-in for libtensorflowlite_gpu_delegate.so, for runtime's tests on machines without a
// GPU. It exports the three GPU delegate entry points with TFLite 2.9's option struct and
// returns an XNNPACK delegate, but only for the two option sets the tests ask for; anything
// else makes Create return NULL. That checks that runtime maps DelegateOptions onto the right
// fields. The options struct it returns is larger than 2.9's (as a newer library's may be):
// Create checks that the extra trailing field survived runtime's handling.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tensorflow/lite/c/common.h"

typedef struct {
  int32_t is_precision_loss_allowed;
  int32_t inference_preference;
  int32_t inference_priority1;
  int32_t inference_priority2;
  int32_t inference_priority3;
  int64_t experimental_flags;
  int32_t max_delegated_partitions;
  const char* serialization_dir;
  const char* model_token;
  int64_t newer_field;  // not in 2.9: stands for fields a later release appends
} GpuOptions;

enum { kNewerFieldMagic = 0x5eed };

typedef struct {
  int32_t num_threads;
  uint32_t flags;
} XNNPackOptions;

extern TfLiteDelegate* TfLiteXNNPackDelegateCreate(const XNNPackOptions* options);
extern void TfLiteXNNPackDelegateDelete(TfLiteDelegate* delegate);

GpuOptions TfLiteGpuDelegateOptionsV2Default(void) {
  GpuOptions o;
  memset(&o, 0, sizeof o);
  o.is_precision_loss_allowed = -1;  // TFLite's "not set" marker
  o.inference_preference = 0;        // FAST_SINGLE_ANSWER
  o.inference_priority1 = 1;         // MAX_PRECISION
  o.experimental_flags = 1;          // ENABLE_QUANT
  o.max_delegated_partitions = 1;
  o.newer_field = kNewerFieldMagic;
  return o;
}

static int is_default(const GpuOptions* o) {
  return o->is_precision_loss_allowed == -1 && o->inference_preference == 0 &&
         o->inference_priority1 == 1 && o->inference_priority2 == 0 &&
         o->inference_priority3 == 0 && o->experimental_flags == 1 &&
         o->max_delegated_partitions == 1 && o->serialization_dir == NULL &&
         o->model_token == NULL;
}

// precision_loss_allowed=true inference_preference=sustained_speed
// max_delegated_partitions=3 backend=cl serialization_dir=/tmp/k model_token=tok
static int is_test_set(const GpuOptions* o) {
  return o->is_precision_loss_allowed == 1 && o->inference_preference == 1 &&
         o->inference_priority1 == 2 && o->inference_priority2 == 0 &&
         o->inference_priority3 == 0 && o->experimental_flags == (1 | 2 | 8) &&
         o->max_delegated_partitions == 3 && o->serialization_dir != NULL &&
         strcmp(o->serialization_dir, "/tmp/k") == 0 && o->model_token != NULL &&
         strcmp(o->model_token, "tok") == 0;
}

TfLiteDelegate* TfLiteGpuDelegateV2Create(const GpuOptions* o) {
  if (o == NULL || o->newer_field != kNewerFieldMagic) return NULL;
  if (!is_default(o) && !is_test_set(o)) return NULL;
  XNNPackOptions x = {0, 0};
  return TfLiteXNNPackDelegateCreate(&x);
}

void TfLiteGpuDelegateV2Delete(TfLiteDelegate* d) { TfLiteXNNPackDelegateDelete(d); }
