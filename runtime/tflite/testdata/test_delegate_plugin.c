// A TFLite external delegate plugin for runtime's tests. It hands out an XNNPACK delegate
// (from libtensorflowlite_c.so) so the tests can see operators really being delegated, and it
// understands two options, which lets the tests check that options reach the plugin:
//   num_threads=N   XNNPACK thread count
//   qs8=1           XNNPACK's signed int8 flag
// Any other option makes it refuse, as a real plugin does with a bad option.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/lite/c/common.h"

typedef struct {
  int32_t num_threads;
  uint32_t flags;
} XNNPackOptions;  // the layout of the shipped 2.9 library (see runtime/shim.h)

extern TfLiteDelegate* TfLiteXNNPackDelegateCreate(const XNNPackOptions* options);
extern void TfLiteXNNPackDelegateDelete(TfLiteDelegate* delegate);

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n,
                                              void (*report_error)(const char*)) {
  XNNPackOptions o = {0, 0};
  for (size_t i = 0; i < n; i++) {
    if (strcmp(keys[i], "num_threads") == 0) {
      o.num_threads = atoi(values[i]);
    } else if (strcmp(keys[i], "qs8") == 0 && strcmp(values[i], "1") == 0) {
      o.flags |= 1;
    } else {
      if (report_error != NULL) report_error("test plugin: unknown option");
      return NULL;
    }
  }
  return TfLiteXNNPackDelegateCreate(&o);
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  TfLiteXNNPackDelegateDelete(delegate);
}
