// C helpers for package runtime: declarations the TFLite 2.9 package does not ship (XNNPACK,
// GPU and external delegate entry points), the error-reporter trampoline, dlopen wrappers and
// the delegate partition probe. Everything here is plain C over the TFLite C API.
#ifndef EDGED_RUNTIME_SHIM_H_
#define EDGED_RUNTIME_SHIM_H_

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tensorflow/lite/c/c_api.h"
#include "tensorflow/lite/c/common.h"

// ---- XNNPACK ----------------------------------------------------------------------------
// TfLiteXNNPackDelegateOptions as compiled into the shipped libtensorflowlite_c.so. The public
// 2.9.1 header also has a `weights_cache` pointer after `flags`, but this build predates it:
// TfLiteXNNPackDelegateOptionsDefault returns the struct in a single register (`xor eax,eax;
// ret` on amd64) and TfLiteXNNPackDelegateCreate copies exactly 8 bytes of options into the
// delegate. Declaring the 16-byte 2.9.1 struct would still work for Create (extra bytes
// ignored), but the 8-byte layout is what the binary reads.
typedef struct {
  int32_t num_threads;  // 0 or 1: no thread pool
  uint32_t flags;       // EDGED_XNNPACK_FLAG_*
} EdgedXNNPackOptions;

#define EDGED_XNNPACK_FLAG_QS8 0x00000001
#define EDGED_XNNPACK_FLAG_QU8 0x00000002
#define EDGED_XNNPACK_FLAG_FORCE_FP16 0x00000004

TfLiteDelegate* edged_xnnpack_create(int32_t num_threads, uint32_t flags);
void edged_xnnpack_delete(TfLiteDelegate* d);
EdgedXNNPackOptions edged_xnnpack_default_options(void);
// Whether a delegate created with num_threads got a thread pool: evidence that num_threads sits
// where the library reads it (a pool exists only for num_threads > 1).
int edged_xnnpack_has_thread_pool(int32_t num_threads);

// ---- GPU delegate (libtensorflowlite_gpu_delegate.so, dlopen'ed) -----------------------------
// TfLiteGpuDelegateOptionsV2 of TFLite 2.9 (tensorflow/lite/delegates/gpu/delegate.h).
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
} EdgedGpuOptions;

// A library newer than 2.9 may append fields. The struct is returned through a hidden pointer
// (it is larger than 16 bytes on amd64 and arm64), so giving the callee a larger buffer lets it
// write every field it knows; Create then reads its own defaults for fields we do not know.
typedef struct {
  EdgedGpuOptions v;
  unsigned char spare[256];
} EdgedGpuOptionsPadded;

void edged_gpu_default_options(void* default_fn, EdgedGpuOptionsPadded* out);
TfLiteDelegate* edged_gpu_create(void* create_fn, const EdgedGpuOptionsPadded* opts);

// ---- external delegate plugins (Coral and others, dlopen'ed) --------------------------------
// The plugin protocol of TFLite's external delegate: a shared library exporting
//   TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n,
//                                                 void (*report_error)(const char*));
//   void tflite_plugin_destroy_delegate(TfLiteDelegate*);
// runtime calls it directly instead of through libexternal_delegate_obj.so: that 2.9 wrapper
// returns a delegate with uninitialised fields when the plugin fails (deleting it crashes),
// and passes no report_error, so the plugin's reason would be lost.
//
// Calls create; when it returns NULL, err holds what the plugin reported (may be empty).
TfLiteDelegate* edged_plugin_create(void* create_fn, char** keys, char** values, size_t n,
                                    char* err, size_t err_len);

void edged_call_delete(void* delete_fn, TfLiteDelegate* d);

// ---- dynamic loading ----------------------------------------------------------------------
// Each returns NULL on failure and sets *err to a malloc'ed copy of dlerror() (caller frees).
void* edged_dlopen(const char* path, char** err);
void* edged_dlsym(void* handle, const char* name, char** err);
// Path of the loaded libtensorflowlite_c.so (malloc'ed), or NULL.
char* edged_tflite_library_path(void);

// ---- delegate partition probe ----------------------------------------------------------------
// A probe wraps a delegate's Prepare to record how much of the execution plan it took over,
// and can keep some operators from it (withhold_dequantize).
// Counters are written inside TFLite calls that the Go side serialises per interpreter.
typedef struct EdgedProbe {
  TfLiteDelegate* delegate;
  TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteDelegate* delegate);
  int32_t prepares;         // times the delegate's Prepare ran (resizes re-apply delegates)
  int32_t nodes;            // nodes in the execution plan handed to the last Prepare
  int32_t delegated_nodes;  // of those, nodes replaced by delegate kernels
  int32_t partitions;       // delegate kernels (subgraphs) created
  TfLiteStatus status;      // what the last Prepare returned
  TfLiteDelegate* skip;     // nodes of this delegate (applied before) are not counted
  // 1: DEQUANTIZE operators of a computed (not constant) tensor stay on TFLite's kernels.
  int32_t withhold_dequantize;
  // The context's ReplaceNodeSubsetsWithDelegateKernels, while Prepare runs with the filter.
  TfLiteStatus (*replace)(TfLiteContext*, TfLiteRegistration, const TfLiteIntArray*, TfLiteDelegate*);
  struct EdgedProbe* next;
} EdgedProbe;

EdgedProbe* edged_probe_attach(TfLiteDelegate* d);
void edged_probe_detach(EdgedProbe* p);

// ---- interpreter and tensors -----------------------------------------------------------------
// Creates an interpreter with the thread count, optional delegates (first is applied before
// delegate) and an error reporter that forwards to the Go reporter identified by `reporter`
// (a cgo.Handle).
TfLiteInterpreter* edged_interpreter_create(const TfLiteModel* model, int32_t threads,
                                            TfLiteDelegate* first, TfLiteDelegate* delegate,
                                            uintptr_t reporter);

// Affine quantization of a tensor: number of scales (0 when not quantized), with pointers into
// TFLite-owned arrays valid until the next resize or allocation.
int edged_tensor_affine(const TfLiteTensor* t, const float** scales, const int** zero_points,
                        int* n_zero_points, int* axis);

#endif  // EDGED_RUNTIME_SHIM_H_
