// C side of package runtime; see shim.h for what each part is for.
#define _GNU_SOURCE
#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "_cgo_export.h"

// Exported by libtensorflowlite_c.so without a header in the 2.9 package.
extern EdgedXNNPackOptions TfLiteXNNPackDelegateOptionsDefault(void);
extern TfLiteDelegate* TfLiteXNNPackDelegateCreate(const EdgedXNNPackOptions* options);
extern void TfLiteXNNPackDelegateDelete(TfLiteDelegate* delegate);
extern void* TfLiteXNNPackDelegateGetThreadPool(TfLiteDelegate* delegate);

EdgedXNNPackOptions edged_xnnpack_default_options(void) {
  return TfLiteXNNPackDelegateOptionsDefault();
}

TfLiteDelegate* edged_xnnpack_create(int32_t num_threads, uint32_t flags) {
  EdgedXNNPackOptions o = TfLiteXNNPackDelegateOptionsDefault();
  // As TFLite's own AcquireXNNPACKDelegate: a pool only pays off with more than one thread.
  o.num_threads = num_threads > 1 ? num_threads : 0;
  o.flags |= flags;
  return TfLiteXNNPackDelegateCreate(&o);
}

void edged_xnnpack_delete(TfLiteDelegate* d) { TfLiteXNNPackDelegateDelete(d); }

int edged_xnnpack_has_thread_pool(int32_t num_threads) {
  EdgedXNNPackOptions o = TfLiteXNNPackDelegateOptionsDefault();
  o.num_threads = num_threads;
  TfLiteDelegate* d = TfLiteXNNPackDelegateCreate(&o);
  if (d == NULL) return -1;
  int has = TfLiteXNNPackDelegateGetThreadPool(d) != NULL;
  TfLiteXNNPackDelegateDelete(d);
  return has;
}

void edged_gpu_default_options(void* default_fn, EdgedGpuOptionsPadded* out) {
  typedef EdgedGpuOptionsPadded (*fn_t)(void);
  memset(out, 0, sizeof *out);
  *out = ((fn_t)default_fn)();
}

TfLiteDelegate* edged_gpu_create(void* create_fn, const EdgedGpuOptionsPadded* opts) {
  typedef TfLiteDelegate* (*fn_t)(const EdgedGpuOptionsPadded*);
  return ((fn_t)create_fn)(opts);
}

// The plugin's report_error takes no user data: messages land in the calling thread's buffer,
// which is set only for the duration of the create call.
static __thread char* plugin_err;
static __thread size_t plugin_err_len;

static void plugin_report_error(const char* msg) {
  if (plugin_err == NULL || plugin_err_len == 0 || msg == NULL) return;
  size_t used = strlen(plugin_err);
  if (used > 0 && used + 2 < plugin_err_len) {
    strcat(plugin_err, "; ");
    used += 2;
  }
  if (used + 1 < plugin_err_len) {
    strncat(plugin_err, msg, plugin_err_len - used - 1);
  }
}

TfLiteDelegate* edged_plugin_create(void* create_fn, char** keys, char** values, size_t n,
                                    char* err, size_t err_len) {
  typedef TfLiteDelegate* (*fn_t)(char**, char**, size_t, void (*)(const char*));
  if (err_len > 0) err[0] = '\0';
  plugin_err = err;
  plugin_err_len = err_len;
  TfLiteDelegate* d = ((fn_t)create_fn)(keys, values, n, plugin_report_error);
  plugin_err = NULL;
  plugin_err_len = 0;
  return d;
}

void edged_call_delete(void* delete_fn, TfLiteDelegate* d) {
  typedef void (*fn_t)(TfLiteDelegate*);
  ((fn_t)delete_fn)(d);
}

static char* copy_dlerror(void) {
  const char* e = dlerror();
  return strdup(e != NULL ? e : "unknown dynamic loader error");
}

void* edged_dlopen(const char* path, char** err) {
  dlerror();
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) *err = copy_dlerror();
  return h;
}

void* edged_dlsym(void* handle, const char* name, char** err) {
  dlerror();
  void* s = dlsym(handle, name);
  if (s == NULL) *err = copy_dlerror();
  return s;
}

char* edged_tflite_library_path(void) {
  Dl_info info;
  if (dladdr((void*)&TfLiteVersion, &info) == 0 || info.dli_fname == NULL) return NULL;
  return strdup(info.dli_fname);
}

// ---- probe ---------------------------------------------------------------------------------
// Probes are found by delegate pointer: TFLite calls Prepare again after a resize, outside the
// call that created the interpreter, so the lookup cannot rely on call-site state.
static pthread_mutex_t probes_mu = PTHREAD_MUTEX_INITIALIZER;
static EdgedProbe* probes = NULL;

static EdgedProbe* probe_find(TfLiteDelegate* d) {
  pthread_mutex_lock(&probes_mu);
  EdgedProbe* p = probes;
  while (p != NULL && p->delegate != d) p = p->next;
  pthread_mutex_unlock(&probes_mu);
  return p;
}

// BuiltinOperator_DEQUANTIZE of TFLite's schema.
enum { EDGED_OP_DEQUANTIZE = 6 };

// probe_withholds reports whether node_index is one the probe keeps from its delegate: a
// DEQUANTIZE of a computed tensor. (One of a constant is left alone: XNNPACK folds fp16
// weights' DEQUANTIZE into the operator that reads them.)
static int probe_withholds(const EdgedProbe* p, TfLiteContext* context, int node_index) {
  if (!p->withhold_dequantize) return 0;
  TfLiteNode* node = NULL;
  TfLiteRegistration* reg = NULL;
  if (context->GetNodeAndRegistration(context, node_index, &node, &reg) != kTfLiteOk) return 0;
  if (reg->builtin_code != EDGED_OP_DEQUANTIZE || node->inputs == NULL || node->inputs->size < 1) {
    return 0;
  }
  int t = node->inputs->data[0];
  return t >= 0 && (size_t)t < context->tensors_size && context->tensors[t].allocation_type != kTfLiteMmapRo;
}

// probe_replace stands in for the context's ReplaceNodeSubsetsWithDelegateKernels while the
// delegate's Prepare runs: it hands on the nodes the delegate chose less the withheld ones.
static TfLiteStatus probe_replace(TfLiteContext* context, TfLiteRegistration registration,
                                  const TfLiteIntArray* nodes, TfLiteDelegate* d) {
  EdgedProbe* p = probe_find(d);
  if (p == NULL || p->replace == NULL) return kTfLiteDelegateError;
  TfLiteIntArray* kept = TfLiteIntArrayCreate(nodes->size);
  if (kept == NULL) return kTfLiteError;
  kept->size = 0;
  for (int i = 0; i < nodes->size; i++) {
    if (!probe_withholds(p, context, nodes->data[i])) kept->data[kept->size++] = nodes->data[i];
  }
  TfLiteStatus s = p->replace(context, registration, kept, d);
  TfLiteIntArrayFree(kept);
  return s;
}

static TfLiteStatus probe_prepare(TfLiteContext* context, TfLiteDelegate* d) {
  EdgedProbe* p = probe_find(d);
  if (p == NULL) return kTfLiteDelegateError;  // detached while in use: a bug on our side
  TfLiteIntArray* plan = NULL;
  if (context->GetExecutionPlan(context, &plan) == kTfLiteOk) p->nodes = plan->size;
  // TFLite points the context's functions at the delegate-time ones for the length of this
  // call only, so the filter is put in, and taken out, around the delegate's own Prepare.
  if (p->withhold_dequantize) {
    p->replace = context->ReplaceNodeSubsetsWithDelegateKernels;
    context->ReplaceNodeSubsetsWithDelegateKernels = probe_replace;
  }
  p->status = p->prepare(context, d);
  if (p->withhold_dequantize) {
    context->ReplaceNodeSubsetsWithDelegateKernels = p->replace;
    p->replace = NULL;
  }
  p->prepares++;
  p->delegated_nodes = 0;
  p->partitions = 0;
  if (context->GetExecutionPlan(context, &plan) != kTfLiteOk) return p->status;
  for (int i = 0; i < plan->size; i++) {
    TfLiteNode* node = NULL;
    TfLiteRegistration* reg = NULL;
    if (context->GetNodeAndRegistration(context, plan->data[i], &node, &reg) != kTfLiteOk) {
      continue;
    }
    // Delegate kernels carry their delegate and, as builtin_data, the nodes they replaced.
    // The external delegate hands TFLite its plugin's delegate, not the wrapper we probe, so
    // any delegate counts but the one applied before this (edged's kernels, counted apart).
    if (node->delegate == NULL || node->builtin_data == NULL || node->delegate == p->skip) continue;
    const TfLiteDelegateParams* params = (const TfLiteDelegateParams*)node->builtin_data;
    p->partitions++;
    if (params->nodes_to_replace != NULL) p->delegated_nodes += params->nodes_to_replace->size;
  }
  return p->status;
}

EdgedProbe* edged_probe_attach(TfLiteDelegate* d) {
  if (d == NULL || d->Prepare == NULL) return NULL;
  EdgedProbe* p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->delegate = d;
  p->prepare = d->Prepare;
  pthread_mutex_lock(&probes_mu);
  p->next = probes;
  probes = p;
  pthread_mutex_unlock(&probes_mu);
  d->Prepare = probe_prepare;
  return p;
}

void edged_probe_detach(EdgedProbe* p) {
  if (p == NULL) return;
  pthread_mutex_lock(&probes_mu);
  for (EdgedProbe** q = &probes; *q != NULL; q = &(*q)->next) {
    if (*q == p) {
      *q = p->next;
      break;
    }
  }
  pthread_mutex_unlock(&probes_mu);
  p->delegate->Prepare = p->prepare;
  free(p);
}

// ---- interpreter ---------------------------------------------------------------------------
static void reporter_trampoline(void* user_data, const char* format, va_list args) {
  char buf[2048];
  int n = vsnprintf(buf, sizeof buf, format, args);
  if (n >= (int)sizeof buf) memcpy(buf + sizeof buf - 4, "...", 4);
  edgedReport((uintptr_t)user_data, buf);
}

TfLiteInterpreter* edged_interpreter_create(const TfLiteModel* model, int32_t threads,
                                            TfLiteDelegate* first, TfLiteDelegate* delegate,
                                            uintptr_t reporter) {
  TfLiteInterpreterOptions* o = TfLiteInterpreterOptionsCreate();
  if (o == NULL) return NULL;
  TfLiteInterpreterOptionsSetNumThreads(o, threads);
  TfLiteInterpreterOptionsSetErrorReporter(o, reporter_trampoline, (void*)reporter);
  // TFLite applies delegates in the order they are added.
  if (first != NULL) TfLiteInterpreterOptionsAddDelegate(o, first);
  if (delegate != NULL) TfLiteInterpreterOptionsAddDelegate(o, delegate);
  TfLiteInterpreter* ip = TfLiteInterpreterCreate(model, o);
  // The interpreter copies what it needs from the options (C API contract).
  TfLiteInterpreterOptionsDelete(o);
  return ip;
}

int edged_tensor_affine(const TfLiteTensor* t, const float** scales, const int** zero_points,
                        int* n_zero_points, int* axis) {
  *scales = NULL;
  *zero_points = NULL;
  *n_zero_points = 0;
  *axis = 0;
  if (t == NULL || t->quantization.type != kTfLiteAffineQuantization ||
      t->quantization.params == NULL) {
    return 0;
  }
  const TfLiteAffineQuantization* q = (const TfLiteAffineQuantization*)t->quantization.params;
  *axis = q->quantized_dimension;
  if (q->zero_point != NULL) {
    *zero_points = q->zero_point->data;
    *n_zero_points = q->zero_point->size;
  }
  if (q->scale == NULL) return 0;
  *scales = q->scale->data;
  return q->scale->size;
}
