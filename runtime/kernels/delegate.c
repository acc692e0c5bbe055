// The TFLite delegate: claims int8 FULLY_CONNECTED (and, unless told not to, int8 BATCH_MATMUL)
// nodes, and runs each partition TFLite makes of them with the chosen path's GEMM. It also
// claims weight-only int8: a float FULLY_CONNECTED whose weights are the DEQUANTIZE of a
// constant int8 tensor, both nodes, so that TFLite never holds the float weights.
//
// TFLite groups the claimed nodes into partitions (one delegate node each): nodes that read
// the same input (attention's q, k and v projections) share one. A tensor that one claimed
// node writes and only another reads lives inside the partition: TFLite gives it no memory,
// so the partition keeps its own buffer for it.
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

// The layouts of the builtin_data TFLite 2.9 gives the claimed operators (builtin_op_data.h is
// not part of the C package).
enum { KN_ACT_NONE = 0, KN_ACT_RELU = 1, KN_ACT_RELU_N1_TO_1 = 2, KN_ACT_RELU6 = 3 };
typedef struct {
  int activation;  // TfLiteFusedActivation
  int weights_format;
  bool keep_num_dims;
  bool asymmetric_quantize_inputs;
} kn_fc_params;
typedef struct {
  bool adj_x;
  bool adj_y;
  bool asymmetric_quantize_inputs;
} kn_bmm_params;
typedef struct {
  int axis;
  int batch_dims;
} kn_gather_params;
enum { KN_PADDING_SAME = 1, KN_PADDING_VALID = 2 };
typedef struct {
  int padding;  // TfLitePadding
  int stride_width;
  int stride_height;
  int activation;
  int dilation_width_factor;
  int dilation_height_factor;
} kn_conv_params;

#define KN_MAX_DIMS 6

struct kn_delegate {
  TfLiteDelegate base;
  const kn_path* path;
  kn_pool* pool;
  int batch_matmul;
  int act_dequantize;  // take the DEQUANTIZE of computed int8 tensors
  int graph_nodes, nodes, partitions, fc, bmm, conv, wfc, transpose, deq, lut, ln;  // seen and claimed by the last Prepare
  // The layer norms the last Prepare claimed (layernorm.c), and by node index the chain a
  // node belongs to, or -1 (read by the partitions' init).
  kn_ln_chain* chains;
  int* ln_node;
  int ln_nodes;
  // By tensor: the int8 constant whose claimed DEQUANTIZE writes it, or -1 (set by Prepare,
  // read by the partitions' init).
  int* deq_src;
  // By tensor: the root of the int8 lookup chain whose claimed operator writes it, or -1, and
  // its table (lut_tabs + 256 * lut_id) of the values it takes for each byte of the root.
  int* lut_root;
  int* lut_id;
  int8_t* lut_tabs;
  size_t lut_tabs_cap;
  // What the path runs beside its GEMM, fixed with it: the lookups' instructions and whether
  // the layer norm takes its AVX2 rows.
  kn_lut_isa lut_isa;
  int ln_simd;
  // The tensors a partition writes and reads only itself, all partitions in turn (they run one
  // after another): the largest partition's need, not the sum of all.
  void* scratch;
  size_t cap_scratch;
  // A BATCH_MATMUL's packed rhs, column terms and prepared lhs per thread slot (bmm_slot), which
  // nothing reads after the operator: one buffer for all of them, as large as the largest needs
  // (a buffer each held 5 MiB a thread in BLIP base's vision tower, BENCHMARKS.md).
  void* bmm_scratch;
  size_t cap_bmm_scratch;
};

// ---- claiming ----------------------------------------------------------------------------------

static bool per_tensor_int8(const TfLiteTensor* t) {
  if (t->type != kTfLiteInt8) return false;
  if (t->quantization.type != kTfLiteAffineQuantization || t->quantization.params == NULL) {
    return false;
  }
  const TfLiteAffineQuantization* q = t->quantization.params;
  return q->scale != NULL && q->scale->size == 1 && t->params.scale > 0;
}

static bool is_const(const TfLiteTensor* t) {
  return t->allocation_type == kTfLiteMmapRo && t->data.raw != NULL;
}

static int64_t num_elements(const TfLiteIntArray* dims) {
  int64_t n = 1;
  for (int i = 0; i < dims->size; i++) n *= dims->data[i];
  return n;
}

static bool supported_activation(int a) {
  return a == KN_ACT_NONE || a == KN_ACT_RELU || a == KN_ACT_RELU_N1_TO_1 || a == KN_ACT_RELU6;
}

static bool fc_claimable(const TfLiteContext* ctx, const TfLiteNode* node) {
  if (node->inputs->size < 2 || node->inputs->size > 3 || node->outputs->size != 1) return false;
  const kn_fc_params* p = node->builtin_data;
  if (p == NULL || p->weights_format != 0) return false;
  if (!supported_activation(p->activation)) return false;
  const int in = node->inputs->data[0], w = node->inputs->data[1], out = node->outputs->data[0];
  if (in < 0 || w < 0 || out < 0) return false;
  const TfLiteTensor *x = &ctx->tensors[in], *wt = &ctx->tensors[w], *y = &ctx->tensors[out];
  if (!per_tensor_int8(x) || !per_tensor_int8(wt) || !per_tensor_int8(y)) return false;
  if (!is_const(wt) || wt->dims->size != 2) return false;
  const int n = wt->dims->data[0], k = wt->dims->data[1];
  if (n <= 0 || k <= 0 || k > 65536) return false;  // int32 sums stay exact up to here
  if (x->dims->size < 1 || num_elements(x->dims) % k != 0) return false;
  if (node->inputs->size == 3 && node->inputs->data[2] >= 0) {
    const TfLiteTensor* b = &ctx->tensors[node->inputs->data[2]];
    if (b->type != kTfLiteInt32 || !is_const(b) || num_elements(b->dims) != n) return false;
  }
  return true;
}

// CONV_2D whose kernel tiles its input exactly (stride = kernel size, no padding): a vision
// transformer's patch embedding, a FULLY_CONNECTED over the patches. Weights per tensor or per
// output channel, zero points 0 (as TFLite requires).
static bool conv_claimable(const TfLiteContext* ctx, const TfLiteNode* node) {
  if (node->inputs->size < 2 || node->inputs->size > 3 || node->outputs->size != 1) return false;
  const kn_conv_params* p = node->builtin_data;
  if (p == NULL || p->dilation_width_factor != 1 || p->dilation_height_factor != 1) return false;
  if (!supported_activation(p->activation)) return false;
  const int in = node->inputs->data[0], w = node->inputs->data[1], out = node->outputs->data[0];
  if (in < 0 || w < 0 || out < 0) return false;
  const TfLiteTensor *x = &ctx->tensors[in], *wt = &ctx->tensors[w], *y = &ctx->tensors[out];
  if (!per_tensor_int8(x) || !per_tensor_int8(y) || wt->type != kTfLiteInt8 || !is_const(wt)) return false;
  if (x->dims->size != 4 || wt->dims->size != 4) return false;
  const int o = wt->dims->data[0], kh = wt->dims->data[1], kw = wt->dims->data[2], c = wt->dims->data[3];
  if (x->dims->data[3] != c || p->stride_height != kh || p->stride_width != kw) return false;
  if ((int64_t)kh * kw * c > 65536 || o <= 0) return false;
  const int h = x->dims->data[1], wd = x->dims->data[2];
  if (p->padding != KN_PADDING_VALID && !(p->padding == KN_PADDING_SAME && h % kh == 0 && wd % kw == 0)) return false;
  if (wt->quantization.type != kTfLiteAffineQuantization || wt->quantization.params == NULL) return false;
  const TfLiteAffineQuantization* q = wt->quantization.params;
  if (q->scale == NULL || (q->scale->size != 1 && (q->scale->size != o || q->quantized_dimension != 0))) return false;
  for (int i = 0; q->zero_point != NULL && i < q->zero_point->size; i++) {
    if (q->zero_point->data[i] != 0) return false;
  }
  if (node->inputs->size == 3 && node->inputs->data[2] >= 0) {
    const TfLiteTensor* b = &ctx->tensors[node->inputs->data[2]];
    if (b->type != kTfLiteInt32 || !is_const(b) || num_elements(b->dims) != o) return false;
  }
  return true;
}

static bool bmm_claimable(const TfLiteContext* ctx, const TfLiteNode* node) {
  if (node->inputs->size != 2 || node->outputs->size != 1) return false;
  const kn_bmm_params* p = node->builtin_data;
  if (p == NULL) return false;
  const int l = node->inputs->data[0], r = node->inputs->data[1], out = node->outputs->data[0];
  if (l < 0 || r < 0 || out < 0) return false;
  const TfLiteTensor *lt = &ctx->tensors[l], *rt = &ctx->tensors[r], *y = &ctx->tensors[out];
  if (!per_tensor_int8(lt) || !per_tensor_int8(rt) || !per_tensor_int8(y)) return false;
  if (lt->dims->size < 2 || rt->dims->size < 2 || lt->dims->size > 5 || rt->dims->size > 5) {
    return false;
  }
  const int k = p->adj_x ? lt->dims->data[lt->dims->size - 2] : lt->dims->data[lt->dims->size - 1];
  return k > 0 && k <= 65536;
}

// An int8 TRANSPOSE with a constant permutation (attention's heads in and out of the batch
// dimension): it moves bytes only, so the kernels' copy is TFLite's result, in runs of the
// dimensions the permutation keeps in place at the end (a head's 64 values) instead of
// TFLite's byte at a time.
static bool transpose_claimable(const TfLiteContext* ctx, const TfLiteNode* node) {
  if (node->inputs->size != 2 || node->outputs->size != 1) return false;
  const int in = node->inputs->data[0], perm = node->inputs->data[1], out = node->outputs->data[0];
  if (in < 0 || perm < 0 || out < 0) return false;
  const TfLiteTensor *x = &ctx->tensors[in], *p = &ctx->tensors[perm], *y = &ctx->tensors[out];
  if (x->type != kTfLiteInt8 || y->type != kTfLiteInt8) return false;
  const int rank = x->dims->size;
  if (rank < 1 || rank > KN_MAX_DIMS) return false;
  if (p->type != kTfLiteInt32 || !is_const(p) || p->dims->size != 1 || p->dims->data[0] != rank) return false;
  int seen = 0;
  for (int i = 0; i < rank; i++) {
    const int a = p->data.i32[i];
    if (a < 0 || a >= rank || (seen & (1 << a))) return false;
    seen |= 1 << a;
  }
  return true;
}

// A DEQUANTIZE of a computed int8 tensor to float32 (where an int8 graph enters a float
// region: attention's scores before the softmax, the dense layers' outputs before the
// residual ADD). TFLite computes (float)((double)scale · (q - zero point)); the double product
// of a float and a 9-bit integer is exact, so the float product, rounded once, is the same
// value: the kernels' vectorised loop gives TFLite's result bit for bit. x86-64 only: the
// arm64 library's kernel is NEON already, and rounds differently (a multiply, then an add of
// -zero point · scale, outside its scalar tail).
static bool act_deq_claimable(const TfLiteContext* ctx, const TfLiteNode* node) {
#if !defined(__x86_64__)
  (void)ctx;
  (void)node;
  return false;
#endif
  if (node->inputs->size != 1 || node->outputs->size != 1) return false;
  const int in = node->inputs->data[0], out = node->outputs->data[0];
  if (in < 0 || out < 0) return false;
  const TfLiteTensor *q = &ctx->tensors[in], *y = &ctx->tensors[out];
  if (!per_tensor_int8(q) || is_const(q) || y->type != kTfLiteFloat32) return false;
  return isfinite(q->params.scale) && q->dims->size >= 1 && q->dims->size <= KN_MAX_DIMS;
}

// A DEQUANTIZE of weights the kernels can read: a constant int8 [n, k] tensor with one scale
// per tensor or per row (axis 0) and zero points 0, to float32.
static bool deq_claimable(const TfLiteContext* ctx, const TfLiteNode* node) {
  if (node->inputs->size != 1 || node->outputs->size != 1) return false;
  const int in = node->inputs->data[0], out = node->outputs->data[0];
  if (in < 0 || out < 0) return false;
  const TfLiteTensor *q = &ctx->tensors[in], *y = &ctx->tensors[out];
  if (q->type != kTfLiteInt8 || !is_const(q) || q->dims->size != 2 || y->type != kTfLiteFloat32) return false;
  const int n = q->dims->data[0], k = q->dims->data[1];
  if (n <= 0 || k <= 0) return false;
  if (q->quantization.type != kTfLiteAffineQuantization || q->quantization.params == NULL) return false;
  const TfLiteAffineQuantization* qp = q->quantization.params;
  if (qp->scale == NULL || (qp->scale->size != 1 && (qp->scale->size != n || qp->quantized_dimension != 0))) {
    return false;
  }
  for (int i = 0; i < qp->scale->size; i++) {
    if (!isfinite(qp->scale->data[i])) return false;
  }
  for (int i = 0; qp->zero_point != NULL && i < qp->zero_point->size; i++) {
    if (qp->zero_point->data[i] != 0) return false;
  }
  return true;
}

// A float FULLY_CONNECTED whose weights (input 1) are the output of a claimable DEQUANTIZE
// (src[tensor] >= 0) and used there alone.
static bool wfc_claimable(const TfLiteContext* ctx, const TfLiteNode* node, const int* src) {
  if (node->inputs->size < 2 || node->inputs->size > 3 || node->outputs->size != 1) return false;
  const kn_fc_params* p = node->builtin_data;
  if (p == NULL || p->weights_format != 0 || !supported_activation(p->activation)) return false;
  const int in = node->inputs->data[0], w = node->inputs->data[1], out = node->outputs->data[0];
  const int bias = node->inputs->size == 3 ? node->inputs->data[2] : -1;
  if (in < 0 || w < 0 || out < 0 || src[w] < 0 || in == w || bias == w) return false;
  const TfLiteTensor *x = &ctx->tensors[in], *y = &ctx->tensors[out];
  if (x->type != kTfLiteFloat32 || y->type != kTfLiteFloat32) return false;
  const TfLiteTensor* q = &ctx->tensors[src[w]];
  const int n = q->dims->data[0], k = q->dims->data[1];
  if (x->dims->size < 1 || num_elements(x->dims) % k != 0) return false;
  if (bias >= 0 && (ctx->tensors[bias].type != kTfLiteFloat32 || num_elements(ctx->tensors[bias].dims) != n)) {
    return false;
  }
  return true;
}

// A GATHER of rows (axis 0) of the output of a claimable DEQUANTIZE: an embedding table whose
// weights a FULLY_CONNECTED shares (a decoder's tied output layer).
static bool gather_claimable(const TfLiteContext* ctx, const TfLiteNode* node, const int* src) {
  if (node->inputs->size != 2 || node->outputs->size != 1) return false;
  const kn_gather_params* p = node->builtin_data;
  if (p == NULL || (p->axis != 0 && p->axis != -2) || p->batch_dims != 0) return false;
  const int params = node->inputs->data[0], idx = node->inputs->data[1], out = node->outputs->data[0];
  if (params < 0 || idx < 0 || out < 0 || src[params] < 0 || idx == params) return false;
  const TfLiteTensor* it = &ctx->tensors[idx];
  if (it->type != kTfLiteInt32 && it->type != kTfLiteInt64) return false;
  return ctx->tensors[out].type == kTfLiteFloat32 && it->dims->size + 1 <= KN_MAX_DIMS;
}

// An int8 RESHAPE to a constant shape: only when its input is a tensor a claimed operator
// writes (attention's heads split and merged between the kernels' FULLY_CONNECTED, lookups and
// TRANSPOSE), so that they stay in one partition; inside it the output is the input's bytes.
static bool reshape_claimable(const TfLiteContext* ctx, const TfLiteNode* node, const bool* ours) {
  if (node->inputs->size != 2 || node->outputs->size != 1) return false;
  const int in = node->inputs->data[0], shape = node->inputs->data[1], out = node->outputs->data[0];
  if (in < 0 || shape < 0 || out < 0 || !ours[in]) return false;
  const TfLiteTensor *x = &ctx->tensors[in], *s = &ctx->tensors[shape], *y = &ctx->tensors[out];
  if (x->type != kTfLiteInt8 || y->type != kTfLiteInt8) return false;
  if (s->type != kTfLiteInt32 || !is_const(s) || s->dims->size != 1) return false;
  const int rank = s->dims->data[0];
  if (rank < 1 || rank > KN_MAX_DIMS) return false;
  int unknown = 0;
  for (int i = 0; i < rank; i++) {
    const int v = s->data.i32[i];
    if (v == -1) unknown++;
    if (v < -1 || unknown > 1) return false;
  }
  return true;
}

// A float ADD without activation, one of its inputs a claimed operator's output: the residual
// connections after the dense layers' DEQUANTIZE. Each sum is one IEEE addition clamped to
// ±FLT_MAX, TFLite's exactly; taken so that the layers stay in one partition. It broadcasts as
// TFLite does: whether a node is claimed must not depend on the shapes, which a resize
// changes (TFLite then applies the delegates again, and a tensor one delegate wrote must not
// move to another).
static bool add_claimable(const TfLiteContext* ctx, const TfLiteNode* node, const bool* ours) {
  if (node->inputs->size != 2 || node->outputs->size != 1) return false;
  if (node->builtin_data == NULL || *(const int*)node->builtin_data != KN_ACT_NONE) return false;
  const int a = node->inputs->data[0], b = node->inputs->data[1], out = node->outputs->data[0];
  if (a < 0 || b < 0 || out < 0 || !(ours[a] || ours[b])) return false;
  const TfLiteTensor *x = &ctx->tensors[a], *y = &ctx->tensors[b], *z = &ctx->tensors[out];
  if (x->type != kTfLiteFloat32 || y->type != kTfLiteFloat32 || z->type != kTfLiteFloat32) return false;
  return x->dims->size <= KN_MAX_DIMS && y->dims->size <= KN_MAX_DIMS;
}

// An int8 MUL or LOGISTIC whose value is a function of one int8 tensor, the root: its inputs
// are the root, values of the root's chain (outputs of operators claimed here before, in plan
// order) or one-element int8 constants. Its table (lut.c) is built here, from its inputs'.
// CLIP's QuickGELU (MUL by 1.702, LOGISTIC, MUL by x) and the query's MUL by the attention
// scale are such chains. 0 when not claimable, -1 when out of memory.
static int lut_claim(const TfLiteContext* ctx, kn_delegate* d, const TfLiteNode* node, int code) {
#if !defined(__x86_64__)
  if (code == KN_OP_MUL) return 0;  // the arm64 library's MUL is not reproduced (lut.c)
#endif
  const int nin = code == KN_OP_MUL ? 2 : 1;
  if (node->inputs->size != nin || node->outputs->size != 1) return 0;
  if (code == KN_OP_MUL && (node->builtin_data == NULL || *(const int*)node->builtin_data != KN_ACT_NONE)) return 0;
  const int out = node->outputs->data[0];
  if (out < 0 || !per_tensor_int8(&ctx->tensors[out])) return 0;
  int root = -1;
  for (int j = 0; j < nin; j++) {
    const int t = node->inputs->data[j];
    if (t < 0 || !per_tensor_int8(&ctx->tensors[t])) return 0;
    if (is_const(&ctx->tensors[t])) {
      if (num_elements(ctx->tensors[t].dims) != 1) return 0;
      continue;
    }
    const int r = d->lut_root[t] >= 0 ? d->lut_root[t] : t;
    if (root >= 0 && r != root) return 0;
    root = r;
  }
  if (root < 0) return 0;
  const TfLiteTensor* rt = &ctx->tensors[root];
  const TfLiteTensor* yt = &ctx->tensors[out];
  if (rt->dims->size > KN_MAX_DIMS || num_elements(yt->dims) != num_elements(rt->dims)) return 0;
  for (int j = 0; j < nin; j++) {  // no broadcasting but of the constants
    const TfLiteTensor* t = &ctx->tensors[node->inputs->data[j]];
    if (!is_const(t) && num_elements(t->dims) != num_elements(rt->dims)) return 0;
  }
  // The values each input takes for each root byte.
  int8_t in_tab[2][256];
  for (int j = 0; j < nin; j++) {
    const int t = node->inputs->data[j];
    for (int v = 0; v < 256; v++) {
      if (is_const(&ctx->tensors[t])) {
        in_tab[j][v] = ctx->tensors[t].data.int8[0];
      } else if (d->lut_root[t] >= 0) {
        in_tab[j][v] = d->lut_tabs[(size_t)d->lut_id[t] * 256 + v];
      } else {
        in_tab[j][v] = (int8_t)(v - 128);  // table index v holds root byte v - 128
      }
    }
  }
  const size_t id = (size_t)d->lut;
  if ((id + 1) * 256 > d->lut_tabs_cap) {
    const size_t cap = (id + 1) * 256 * 2;
    int8_t* p = realloc(d->lut_tabs, cap);
    if (p == NULL) return -1;
    d->lut_tabs = p;
    d->lut_tabs_cap = cap;
  }
  int8_t* tab = d->lut_tabs + id * 256;
  const TfLiteTensor *a = &ctx->tensors[node->inputs->data[0]];
  if (code == KN_OP_MUL) {
    const TfLiteTensor* b = &ctx->tensors[node->inputs->data[1]];
    kn_lut_mul(in_tab[0], a->params.scale, a->params.zero_point, in_tab[1], b->params.scale, b->params.zero_point,
               yt->params.scale, yt->params.zero_point, tab);
  } else {
    kn_lut_logistic(in_tab[0], a->params.scale, a->params.zero_point, yt->params.scale, yt->params.zero_point, tab);
  }
  d->lut_root[out] = root;
  d->lut_id[out] = (int)id;
  d->lut++;
  return 1;
}

// ---- one claimed operator ----------------------------------------------------------------------

typedef struct kn_part kn_part;

typedef enum {
  KN_FC, KN_BMM, KN_CONV, KN_WFC, KN_DEQ, KN_GATHER, KN_TRANSPOSE, KN_ACT_DEQ, KN_LUT, KN_RESHAPE, KN_ADD, KN_LN, KN_LN_PART
} kn_kind;

typedef struct {
  kn_kind kind;
  int in, w, bias, out;  // tensor indices; bias -1 when absent. BMM: in = lhs, w = rhs
  int activation;
  bool keep_num_dims, adj_x, adj_y;
  bool out_internal;  // out is read only by later operators of this partition
  size_t esize;       // bytes per output element
  // Set by prepare.
  int m, n, k, kp;    // per batch for BMM
  int batches;        // BMM: output batches; FC: 1
  int out_dims[KN_MAX_DIMS], out_rank;
  int32_t zx, zb;
  kn_requant rq;
  int8_t* packed;      // FC: packed weights (BMM: in the delegate's bmm_scratch)
  const void* packed_from;
  kn_fix* fix;         // FC, CONV_2D: kn_split_pairs' fixes when the path splits pairs, else NULL
  int32_t* fix_start;
  int32_t* col;        // Np column terms
  int32_t* colsums;
  void* abuf;          // prepared A rows
  int32_t* rows;       // row terms, when zb != 0
  kn_part* part;
  size_t internal_off;  // out's place in the delegate's scratch, when out_internal
  size_t internal_size; // its room there (set by prepare; 0 for an alias or no room)
  // BMM broadcasting: for each output batch, the lhs and rhs batch.
  int* lbatch;
  int* rbatch;
  // CONV_2D: kernel (= stride) size, input channels, input and output sizes; the patches.
  int kh, kw, ch, ih, iw, oh, ow;
  int8_t* patches;
  size_t cap_patches;
  // TRANSPOSE: output dimension j is input dimension perm[j]; the input's shape.
  int perm[KN_MAX_DIMS], in_dims[KN_MAX_DIMS];
  // Lookup chain: in is the root; the output's table (256 bytes, index = root byte + 128).
  // Skipped when only other lookups of the partition read the output (their tables hold it).
  int8_t table[256];
  bool skip;
  // RESHAPE: the output shares its input's place in the scratch (no copy).
  bool alias;
  // ADD: each input's strides over the output's dimensions (0 where it broadcasts), when the
  // shapes differ.
  bool broadcast;
  size_t astride[KN_MAX_DIMS], bstride[KN_MAX_DIMS];
  // Weight-only FULLY_CONNECTED: the int8 weights (src), their scales and the bias, Np each.
  // Layer norm: in = x, w = gamma, bias = beta, src = eps.
  int src;
  // Layer norm: the FULLY_CONNECTED into whose abuf it writes its int8 rows prepared, when
  // only FULLY_CONNECTED operators read them; else -1. FULLY_CONNECTED: the operator whose abuf
  // holds its rows so prepared, or -1.
  int prep_for, a_from;
  float lo, hi;
  float *wscale, *wbias;
  size_t cap_wscale, cap_wbias;
  size_t cap_packed, cap_abuf, cap_rows, cap_col, cap_colsums, cap_fix, cap_fix_start;
} kn_op;

struct kn_part {
  kn_delegate* d;
  int nops;
  kn_op* ops;
  size_t scratch_need;  // bytes of the scratch its internal tensors take (set by prepare)
};

static int grow(void** buf, size_t* cap, size_t need) {
  if (need <= *cap && *buf != NULL) return 1;
  void* p = NULL;
  if (posix_memalign(&p, 64, need == 0 ? 64 : need) != 0) return 0;
  free(*buf);
  *buf = p;
  *cap = need;
  return 1;
}

static void op_free(kn_op* op) {
  kn_requant_free(&op->rq);
  free(op->packed);
  free(op->fix);
  free(op->fix_start);
  free(op->col);
  free(op->colsums);
  free(op->abuf);
  free(op->rows);
  free(op->lbatch);
  free(op->rbatch);
  free(op->patches);
  free(op->wscale);
  free(op->wbias);
}

// ---- the partition kernel ---------------------------------------------------------------------

static const kn_op* producer(const kn_part* part, int t, int before);

// Whether TFLite reads tensor t after the partition (else it lives in the partition's scratch).
static bool partition_output(const TfLiteDelegateParams* params, int t) {
  for (int j = 0; j < params->output_tensors->size; j++) {
    if (params->output_tensors->data[j] == t) return true;
  }
  return false;
}

static void* part_init(TfLiteContext* ctx, const char* buffer, size_t length) {
  (void)length;
  const TfLiteDelegateParams* params = (const TfLiteDelegateParams*)buffer;
  kn_part* part = calloc(1, sizeof *part);
  if (part == NULL) return NULL;
  part->d = params->delegate->data_;
  const TfLiteIntArray* nodes = params->nodes_to_replace;
  part->ops = calloc((size_t)nodes->size, sizeof(kn_op));
  if (part->ops == NULL) {
    free(part);
    return NULL;
  }
  part->nops = nodes->size;
  for (int i = 0; i < nodes->size; i++) {
    TfLiteNode* node = NULL;
    TfLiteRegistration* reg = NULL;
    kn_op* op = &part->ops[i];
    op->part = part;
    if (ctx->GetNodeAndRegistration(ctx, nodes->data[i], &node, &reg) != kTfLiteOk) {
      op->kind = -1;
      continue;
    }
    const int chain = nodes->data[i] < part->d->ln_nodes ? part->d->ln_node[nodes->data[i]] : -1;
    if (chain >= 0) {  // a layer norm: its first node stands for all, the others do nothing
      const kn_ln_chain* c = &part->d->chains[chain];
      op->kind = c->nodes[0] == nodes->data[i] ? KN_LN : KN_LN_PART;
      op->in = c->x;
      op->w = c->gamma;
      op->bias = c->beta;
      op->src = c->eps;
      op->out = op->kind == KN_LN ? c->out : -1;
      op->esize = c->nnodes == 10 ? 1 : sizeof(float);
      op->out_internal = op->out < 0 || !partition_output(params, op->out);
      continue;
    }
    op->in = node->inputs->data[0];
    op->w = node->inputs->size > 1 ? node->inputs->data[1] : -1;
    op->out = node->outputs->data[0];
    op->bias = -1;
    op->esize = 1;
    if (reg->builtin_code == KN_OP_MUL || reg->builtin_code == KN_OP_LOGISTIC) {
      const kn_delegate* d = part->d;
      op->kind = KN_LUT;
      op->in = d->lut_root[op->out];
      memcpy(op->table, d->lut_tabs + (size_t)d->lut_id[op->out] * 256, 256);
      // The root must be this partition's to read: written by an earlier operator of it or one
      // of its inputs (TFLite keeps only those alive for it). A chain split across partitions
      // would read a tensor TFLite may have reused: refused at prepare.
      bool readable = producer(part, op->in, i) != NULL;
      for (int j = 0; j < params->input_tensors->size && !readable; j++) {
        readable = params->input_tensors->data[j] == op->in;
      }
      if (!readable) op->kind = -1;
    } else if (reg->builtin_code == KN_OP_RESHAPE) {
      op->kind = KN_RESHAPE;
    } else if (reg->builtin_code == KN_OP_ADD) {
      op->kind = KN_ADD;
      op->esize = sizeof(float);
    } else if (reg->builtin_code == KN_OP_DEQUANTIZE && !is_const(&ctx->tensors[op->in])) {
      op->kind = KN_ACT_DEQ;
      op->esize = sizeof(float);
    } else if (reg->builtin_code == KN_OP_DEQUANTIZE) {
      op->kind = KN_DEQ;
    } else if (reg->builtin_code == KN_OP_TRANSPOSE) {
      op->kind = KN_TRANSPOSE;
      const TfLiteTensor* p = &ctx->tensors[op->w];
      for (int j = 0; j < p->dims->data[0]; j++) op->perm[j] = p->data.i32[j];
    } else if (reg->builtin_code == KN_OP_GATHER) {
      op->kind = KN_GATHER;  // in: the dequantized table, w: the indices
      op->src = part->d->deq_src[op->in];
      op->esize = sizeof(float);
    } else if (reg->builtin_code == KN_OP_FULLY_CONNECTED && ctx->tensors[op->in].type == kTfLiteFloat32) {
      const kn_fc_params* p = node->builtin_data;
      op->kind = KN_WFC;
      op->activation = p->activation;
      op->keep_num_dims = p->keep_num_dims;
      if (node->inputs->size == 3) op->bias = node->inputs->data[2];
      op->src = part->d->deq_src[op->w];
      op->esize = sizeof(float);
    } else if (reg->builtin_code == KN_OP_FULLY_CONNECTED) {
      const kn_fc_params* p = node->builtin_data;
      op->kind = KN_FC;
      op->activation = p->activation;
      op->keep_num_dims = p->keep_num_dims;
      if (node->inputs->size == 3) op->bias = node->inputs->data[2];
    } else if (reg->builtin_code == KN_OP_CONV_2D) {
      const kn_conv_params* p = node->builtin_data;
      op->kind = KN_CONV;
      op->activation = p->activation;
      if (node->inputs->size == 3) op->bias = node->inputs->data[2];
    } else {
      const kn_bmm_params* p = node->builtin_data;
      op->kind = KN_BMM;
      op->adj_x = p->adj_x;
      op->adj_y = p->adj_y;
    }
    op->out_internal = !partition_output(params, op->out);
  }
  // A lookup whose output only other lookups read need not run.
  for (int i = 0; i < nodes->size; i++) {
    kn_op* op = &part->ops[i];
    if (op->kind != KN_LUT || !op->out_internal) continue;
    op->skip = true;
    for (int j = 0; j < nodes->size && op->skip; j++) {
      TfLiteNode* node = NULL;
      TfLiteRegistration* reg = NULL;
      if (part->ops[j].kind == KN_LUT || ctx->GetNodeAndRegistration(ctx, nodes->data[j], &node, &reg) != kTfLiteOk) {
        continue;
      }
      for (int k = 0; k < node->inputs->size; k++) {
        if (node->inputs->data[k] == op->out) op->skip = false;
      }
    }
  }
  return part;
}

static void part_free(TfLiteContext* ctx, void* buffer) {
  (void)ctx;
  kn_part* part = buffer;
  if (part == NULL) return;
  for (int i = 0; i < part->nops; i++) op_free(&part->ops[i]);
  free(part->ops);
  free(part);
}

// The operator of this partition that writes tensor t before operator `before`, or NULL.
static const kn_op* producer(const kn_part* part, int t, int before) {
  for (int i = before - 1; i >= 0; i--) {
    if (part->ops[i].out == t) return &part->ops[i];
  }
  return NULL;
}

// Shape of tensor t as operator i sees it.
static void dims_of(const TfLiteContext* ctx, const kn_part* part, int t, int i, int* dims, int* rank) {
  const kn_op* p = producer(part, t, i);
  if (p != NULL) {
    *rank = p->out_rank;
    memcpy(dims, p->out_dims, sizeof(int) * (size_t)p->out_rank);
    return;
  }
  const TfLiteIntArray* d = ctx->tensors[t].dims;
  *rank = d->size > KN_MAX_DIMS ? KN_MAX_DIMS : d->size;
  memcpy(dims, d->data, sizeof(int) * (size_t)*rank);
}

static const void* data_of(const TfLiteContext* ctx, const kn_part* part, int t, int i) {
  const kn_op* p = producer(part, t, i);
  if (p != NULL && p->out_internal) return (char*)part->d->scratch + p->internal_off;
  return ctx->tensors[t].data.raw;
}

static void* out_data(const TfLiteContext* ctx, const kn_op* op) {
  return op->out_internal ? (char*)op->part->d->scratch + op->internal_off : ctx->tensors[op->out].data.raw;
}

static int32_t quantize_clamp(float f, float scale, int32_t zp) {
  // TFLite: zero_point + round(f / scale) in float, ties away from zero.
  double q = round((double)(f / scale));
  if (q > 1e6) q = 1e6;
  if (q < -1e6) q = -1e6;
  return zp + (int32_t)q;
}

static void activation_range(int act, float scale, int32_t zp, int32_t* lo, int32_t* hi) {
  *lo = -128;
  *hi = 127;
  int32_t a = *lo, b = *hi;
  switch (act) {
    case KN_ACT_RELU:
      a = quantize_clamp(0.f, scale, zp);
      break;
    case KN_ACT_RELU6:
      a = quantize_clamp(0.f, scale, zp);
      b = quantize_clamp(6.f, scale, zp);
      break;
    case KN_ACT_RELU_N1_TO_1:
      a = quantize_clamp(-1.f, scale, zp);
      b = quantize_clamp(1.f, scale, zp);
      break;
  }
  if (a > *lo) *lo = a;
  if (b < *hi) *hi = b;
}

static int round_up(int v, int to) { return (v + to - 1) / to * to; }

static TfLiteStatus set_output(TfLiteContext* ctx, kn_op* op) {
  if (op->out_internal) {
    const size_t bytes = (size_t)op->batches * op->m * op->n * op->esize;
    op->internal_size = (bytes + 63) / 64 * 64;  // placed by place_internal
    return kTfLiteOk;
  }
  TfLiteTensor* t = &ctx->tensors[op->out];
  bool same = t->dims->size == op->out_rank;
  for (int i = 0; same && i < op->out_rank; i++) same = t->dims->data[i] == op->out_dims[i];
  if (same) return kTfLiteOk;
  TfLiteIntArray* dims = TfLiteIntArrayCreate(op->out_rank);
  if (dims == NULL) return kTfLiteError;
  memcpy(dims->data, op->out_dims, sizeof(int) * (size_t)op->out_rank);
  return ctx->ResizeTensor(ctx, t, dims);  // takes ownership of dims
}

// Packs w (n rows of k) with its bias and zero-point compensation, once per partition (the file
// the weights come from may be dropped from memory afterwards), makes room for A, and sets the
// output: the end of preparing a FULLY_CONNECTED or CONV_2D.
static TfLiteStatus prepare_weights(TfLiteContext* ctx, kn_op* op, const kn_path* path, const TfLiteTensor* w) {
  const size_t np = (size_t)round_up(op->n, KN_NB);
  if (op->packed_from != w->data.raw) {
    if (!grow((void**)&op->packed, &op->cap_packed, kn_packed_size(op->n, op->k)) ||
        !grow((void**)&op->col, &op->cap_col, np * sizeof(int32_t)) ||
        !grow((void**)&op->colsums, &op->cap_colsums, np * sizeof(int32_t))) {
      return kTfLiteError;
    }
    kn_pack_b(w->data.int8, op->n, op->k, (size_t)op->k, 0, op->packed, op->colsums);
    if (path->split_pairs) {
      const int n = kn_split_pairs(op->packed, op->n, op->kp, NULL, 0, NULL);
      if (!grow((void**)&op->fix, &op->cap_fix, (size_t)(n > 0 ? n : 1) * sizeof(kn_fix)) ||
          !grow((void**)&op->fix_start, &op->cap_fix_start, (np / KN_NB + 1) * sizeof(int32_t))) {
        return kTfLiteError;
      }
      kn_split_pairs(op->packed, op->n, op->kp, op->fix, n, op->fix_start);
    }
    const int32_t* bias = op->bias >= 0 ? ctx->tensors[op->bias].data.i32 : NULL;
    kn_compensation(path->akind, op->zx, op->zb, op->k, bias, op->colsums, op->n, op->col);
    op->packed_from = w->data.raw;
  }
  if (!grow(&op->abuf, &op->cap_abuf, (size_t)op->m * op->kp)) return kTfLiteError;
  if (op->zb != 0 && !grow((void**)&op->rows, &op->cap_rows, (size_t)op->m * sizeof(int32_t))) {
    return kTfLiteError;
  }
  return set_output(ctx, op);
}

// The rows and output shape of FULLY_CONNECTED i, whose weights are [n][k] (op->n, op->k).
static TfLiteStatus fc_shape(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  int xd[KN_MAX_DIMS], xr = 0;
  dims_of(ctx, part, op->in, i, xd, &xr);
  int64_t elems = 1;
  for (int j = 0; j < xr; j++) elems *= xd[j];
  if (elems % op->k != 0 || xr < 1) {
    ctx->ReportError(ctx, "edged kernels: FULLY_CONNECTED input of %lld values is not a multiple of %d",
                     (long long)elems, op->k);
    return kTfLiteError;
  }
  op->m = (int)(elems / op->k);
  op->batches = 1;
  if (op->keep_num_dims) {
    op->out_rank = xr;
    memcpy(op->out_dims, xd, sizeof(int) * (size_t)xr);
    op->out_dims[xr - 1] = op->n;
  } else {
    op->out_rank = 2;
    op->out_dims[0] = op->m;
    op->out_dims[1] = op->n;
  }
  return kTfLiteOk;
}

static TfLiteStatus prepare_fc(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  const kn_path* path = part->d->path;
  const TfLiteTensor *x = &ctx->tensors[op->in], *w = &ctx->tensors[op->w], *y = &ctx->tensors[op->out];
  op->n = w->dims->data[0];
  op->k = w->dims->data[1];
  op->kp = round_up(op->k, KN_KALIGN);
  const TfLiteStatus s = fc_shape(ctx, part, i);
  if (s != kTfLiteOk) return s;
  op->zx = x->params.zero_point;
  op->zb = w->params.zero_point;
  int32_t lo, hi;
  activation_range(op->activation, y->params.scale, y->params.zero_point, &lo, &hi);
  op->rq.out_zp = y->params.zero_point;
  op->rq.qmin = lo;
  op->rq.qmax = hi;
  if (!kn_requant_alloc(&op->rq, round_up(op->n, KN_NB))) return kTfLiteError;
  kn_requant_set(&op->rq, 0, op->n, kn_product_multiplier(x->params.scale, w->params.scale, y->params.scale));
  if (op->bias >= 0) {
    const TfLiteTensor* b = &ctx->tensors[op->bias];
    const double bs = b->params.scale, ps = (double)(x->params.scale * w->params.scale);
    // TFLite refuses a bias whose scale is far from input scale × weight scale.
    if (fabs(ps - bs) / y->params.scale > 0.02) {
      ctx->ReportError(ctx, "edged kernels: FULLY_CONNECTED bias scale %g, want %g", bs, ps);
      return kTfLiteError;
    }
  }
  return prepare_weights(ctx, op, path, w);
}

// A BATCH_MATMUL's scratch for one output batch: packed rhs, its column terms and sums, the
// prepared lhs rows, their row terms (zb != 0) and the lhs transposed (adj_x), each 64-byte
// aligned. Returns its size; with base, also sets the places in bufs from base.
typedef struct {
  int8_t* packed;
  int32_t *col, *colsums, *rows;
  void* abuf;
  int8_t* ltrans;
} kn_bmm_bufs;

static size_t bmm_slot(const kn_op* op, char* base, kn_bmm_bufs* bufs) {
  const size_t np = (size_t)round_up(op->n, KN_NB);
  const size_t sizes[6] = {
      kn_packed_size(op->n, op->k), np * sizeof(int32_t), np * sizeof(int32_t),
      (size_t)op->m * op->kp, op->zb != 0 ? (size_t)op->m * sizeof(int32_t) : 0,
      op->adj_x ? (size_t)op->m * op->k : 0,
  };
  size_t off[6], total = 0;
  for (int j = 0; j < 6; j++) {
    off[j] = total;
    total += (sizes[j] + 63) / 64 * 64;
  }
  if (base != NULL) {
    *bufs = (kn_bmm_bufs){
        .packed = (int8_t*)(base + off[0]), .col = (int32_t*)(base + off[1]), .colsums = (int32_t*)(base + off[2]),
        .abuf = base + off[3], .rows = (int32_t*)(base + off[4]), .ltrans = (int8_t*)(base + off[5]),
    };
  }
  return total;
}

// Broadcasts the batch dimensions of lhs (rank lr) and rhs (rank rr) as TFLite's BATCH_MATMUL.
static TfLiteStatus prepare_bmm(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  const TfLiteTensor *l = &ctx->tensors[op->in], *r = &ctx->tensors[op->w], *y = &ctx->tensors[op->out];
  int ld[KN_MAX_DIMS], lr, rd[KN_MAX_DIMS], rr;
  dims_of(ctx, part, op->in, i, ld, &lr);
  dims_of(ctx, part, op->w, i, rd, &rr);
  const int lrows = ld[lr - 2], lcols = ld[lr - 1], rrows = rd[rr - 2], rcols = rd[rr - 1];
  op->m = op->adj_x ? lcols : lrows;
  op->k = op->adj_x ? lrows : lcols;
  const int rk = op->adj_y ? rcols : rrows;
  op->n = op->adj_y ? rrows : rcols;
  if (rk != op->k) {
    ctx->ReportError(ctx, "edged kernels: BATCH_MATMUL inner dimensions %d and %d differ", op->k, rk);
    return kTfLiteError;
  }
  op->kp = round_up(op->k, KN_KALIGN);
  // Output batch shape: the broadcast of both batch shapes, aligned at the right.
  const int ob = (lr > rr ? lr : rr) - 2;
  int bdims[KN_MAX_DIMS];
  for (int j = 0; j < ob; j++) {
    const int li = j - (ob - (lr - 2)), ri = j - (ob - (rr - 2));
    const int a = li >= 0 ? ld[li] : 1, b = ri >= 0 ? rd[ri] : 1;
    if (a != b && a != 1 && b != 1) {
      ctx->ReportError(ctx, "edged kernels: BATCH_MATMUL batch dimensions %d and %d do not broadcast", a, b);
      return kTfLiteError;
    }
    bdims[j] = a > b ? a : b;
  }
  op->batches = 1;
  for (int j = 0; j < ob; j++) op->batches *= bdims[j];
  op->out_rank = ob + 2;
  memcpy(op->out_dims, bdims, sizeof(int) * (size_t)ob);
  op->out_dims[ob] = op->m;
  op->out_dims[ob + 1] = op->n;
  free(op->lbatch);
  free(op->rbatch);
  op->lbatch = malloc((size_t)op->batches * sizeof(int));
  op->rbatch = malloc((size_t)op->batches * sizeof(int));
  if (op->lbatch == NULL || op->rbatch == NULL) return kTfLiteError;
  for (int b = 0; b < op->batches; b++) {
    // Row-major index of b in the output batch shape, mapped into each input's batch shape.
    int rem = b, lidx = 0, ridx = 0, lstride = 1, rstride = 1;
    for (int j = ob - 1; j >= 0; j--) {
      const int c = rem % bdims[j];
      rem /= bdims[j];
      const int li = j - (ob - (lr - 2)), ri = j - (ob - (rr - 2));
      if (li >= 0) {
        lidx += (ld[li] == 1 ? 0 : c) * lstride;
        lstride *= ld[li];
      }
      if (ri >= 0) {
        ridx += (rd[ri] == 1 ? 0 : c) * rstride;
        rstride *= rd[ri];
      }
    }
    op->lbatch[b] = lidx;
    op->rbatch[b] = ridx;
  }
  op->zx = l->params.zero_point;
  op->zb = r->params.zero_point;
  op->rq.out_zp = y->params.zero_point;
  op->rq.qmin = -128;
  op->rq.qmax = 127;
  if (!kn_requant_alloc(&op->rq, round_up(op->n, KN_NB))) return kTfLiteError;
  kn_requant_set(&op->rq, 0, op->n, kn_product_multiplier(l->params.scale, r->params.scale, y->params.scale));
  const size_t slots = (size_t)kn_pool_threads(part->d->pool);
  kn_delegate* d = part->d;
  if (!grow(&d->bmm_scratch, &d->cap_bmm_scratch, slots * bmm_slot(op, NULL, NULL))) return kTfLiteError;
  return set_output(ctx, op);
}

// CONV_2D over non-overlapping patches: A holds one patch per row (its KH rows of KW×C
// values, the order of the weights' [O][KH][KW][C]), B the weights.
static TfLiteStatus prepare_conv(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  const TfLiteTensor *x = &ctx->tensors[op->in], *w = &ctx->tensors[op->w], *y = &ctx->tensors[op->out];
  int xd[KN_MAX_DIMS], xr = 0;
  dims_of(ctx, part, op->in, i, xd, &xr);
  op->n = w->dims->data[0];
  op->kh = w->dims->data[1];
  op->kw = w->dims->data[2];
  op->ch = w->dims->data[3];
  if (xr != 4 || xd[3] != op->ch) {
    ctx->ReportError(ctx, "edged kernels: CONV_2D input of rank %d for %d channels", xr, op->ch);
    return kTfLiteError;
  }
  op->ih = xd[1];
  op->iw = xd[2];
  op->oh = op->ih / op->kh;  // VALID, or SAME on sizes the kernel divides
  op->ow = op->iw / op->kw;
  op->k = op->kh * op->kw * op->ch;
  op->kp = round_up(op->k, KN_KALIGN);
  op->m = xd[0] * op->oh * op->ow;
  op->batches = 1;
  op->out_rank = 4;
  op->out_dims[0] = xd[0];
  op->out_dims[1] = op->oh;
  op->out_dims[2] = op->ow;
  op->out_dims[3] = op->n;
  op->zx = x->params.zero_point;
  op->zb = 0;
  int32_t lo, hi;
  activation_range(op->activation, y->params.scale, y->params.zero_point, &lo, &hi);
  op->rq.out_zp = y->params.zero_point;
  op->rq.qmin = lo;
  op->rq.qmax = hi;
  if (!kn_requant_alloc(&op->rq, round_up(op->n, KN_NB))) return kTfLiteError;
  // Per output channel, in double throughout (TFLite's per-channel quantization parameters).
  const TfLiteAffineQuantization* q = w->quantization.params;
  for (int c = 0; c < op->n; c++) {
    const double ws = q->scale->size == 1 ? q->scale->data[0] : q->scale->data[c];
    kn_requant_set(&op->rq, c, c + 1, (double)x->params.scale * ws / (double)y->params.scale);
  }
  if (!grow((void**)&op->patches, &op->cap_patches, (size_t)op->m * op->k)) return kTfLiteError;
  return prepare_weights(ctx, op, part->d->path, w);
}

// The float clamp of a fused activation, as TFLite's float kernels apply it.
static void float_activation(int act, float* lo, float* hi) {
  *lo = -FLT_MAX;
  *hi = FLT_MAX;
  if (act == KN_ACT_RELU || act == KN_ACT_RELU6) *lo = 0;
  if (act == KN_ACT_RELU6) *hi = 6;
  if (act == KN_ACT_RELU_N1_TO_1) {
    *lo = -1;
    *hi = 1;
  }
}

// Weight-only FULLY_CONNECTED: packs the int8 weights once (as prepare_weights) with their
// scales; the bias is read at every run (it need not be a constant).
static TfLiteStatus prepare_wfc(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  const TfLiteTensor* q = &ctx->tensors[op->src];
  op->n = q->dims->data[0];
  op->k = q->dims->data[1];
  const TfLiteStatus s = fc_shape(ctx, part, i);
  if (s != kTfLiteOk) return s;
  float_activation(op->activation, &op->lo, &op->hi);
  const size_t np = (size_t)round_up(op->n, KN_NB);
  if (op->packed_from != q->data.raw) {
    if (!grow((void**)&op->packed, &op->cap_packed, kn_wpacked_size(op->n, op->k)) ||
        !grow((void**)&op->wscale, &op->cap_wscale, np * sizeof(float)) ||
        !grow((void**)&op->wbias, &op->cap_wbias, np * sizeof(float))) {
      return kTfLiteError;
    }
    kn_wpack(q->data.int8, op->n, op->k, op->packed);
    const TfLiteFloatArray* sc = ((const TfLiteAffineQuantization*)q->quantization.params)->scale;
    for (size_t c = 0; c < np; c++) {
      op->wscale[c] = (int)c >= op->n ? 0.f : sc->size == 1 ? sc->data[0] : sc->data[c];
      op->wbias[c] = 0.f;
    }
    op->packed_from = q->data.raw;
  }
  return set_output(ctx, op);
}

// A claimed DEQUANTIZE writes nothing: its readers are weight-only FULLY_CONNECTED operators
// that read its int8 input. When they are in other partitions, TFLite would give the float
// tensor memory between them (all the weights' float32 size); a custom allocation of no bytes
// keeps its arena from doing so.
static TfLiteStatus prepare_deq(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  if (op->out_internal) return kTfLiteOk;
  TfLiteTensor* t = &ctx->tensors[op->out];
  t->allocation_type = kTfLiteCustom;
  t->data.raw = NULL;
  t->bytes = 0;
  return kTfLiteOk;
}

// GATHER of dequantized rows: the output is the indices' shape and a row.
static TfLiteStatus prepare_gather(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  int id[KN_MAX_DIMS], ir = 0;
  dims_of(ctx, part, op->w, i, id, &ir);
  const TfLiteTensor* q = &ctx->tensors[op->src];
  op->n = q->dims->data[1];
  op->m = 1;
  for (int j = 0; j < ir; j++) op->m *= id[j];
  op->batches = 1;
  op->out_rank = ir + 1;
  memcpy(op->out_dims, id, sizeof(int) * (size_t)ir);
  op->out_dims[ir] = op->n;
  return set_output(ctx, op);
}

// Sets the output of an operator that writes op->out_dims' values one by one (op->n of them).
static TfLiteStatus set_elementwise_output(TfLiteContext* ctx, kn_op* op) {
  int64_t elems = 1;
  for (int j = 0; j < op->out_rank; j++) elems *= op->out_dims[j];
  op->batches = op->m = 1;
  op->n = (int)elems;
  return set_output(ctx, op);
}

static TfLiteStatus prepare_transpose(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  int rank = 0;
  dims_of(ctx, part, op->in, i, op->in_dims, &rank);
  if (rank != ctx->tensors[op->w].dims->data[0]) {
    ctx->ReportError(ctx, "edged kernels: TRANSPOSE of %d dimensions with a permutation of %d", rank,
                     ctx->tensors[op->w].dims->data[0]);
    return kTfLiteError;
  }
  op->out_rank = rank;
  for (int j = 0; j < rank; j++) op->out_dims[j] = op->in_dims[op->perm[j]];
  return set_elementwise_output(ctx, op);
}

static TfLiteStatus prepare_act_deq(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  dims_of(ctx, part, op->in, i, op->out_dims, &op->out_rank);
  return set_elementwise_output(ctx, op);
}

static TfLiteStatus prepare_reshape(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  int in_dims[KN_MAX_DIMS], in_rank = 0;
  dims_of(ctx, part, op->in, i, in_dims, &in_rank);
  int64_t elems = 1, known = 1;
  for (int j = 0; j < in_rank; j++) elems *= in_dims[j];
  const TfLiteTensor* s = &ctx->tensors[op->w];
  op->out_rank = s->dims->data[0];
  int unknown = -1;
  for (int j = 0; j < op->out_rank; j++) {
    op->out_dims[j] = s->data.i32[j];
    if (op->out_dims[j] == -1) {
      unknown = j;
    } else {
      known *= op->out_dims[j];
    }
  }
  if (unknown >= 0 && known > 0 && elems % known == 0) op->out_dims[unknown] = (int)(elems / known);
  if ((unknown >= 0 && (known == 0 || elems % known != 0)) || (unknown < 0 && known != elems)) {
    ctx->ReportError(ctx, "edged kernels: RESHAPE of %lld values to a shape of %lld", (long long)elems, (long long)known);
    return kTfLiteError;
  }
  const kn_op* p = producer(part, op->in, i);
  op->alias = op->out_internal && p != NULL && p->out_internal;
  if (op->alias) {
    op->batches = op->m = 1;
    op->n = (int)elems;
    op->internal_off = p->internal_off;
    return kTfLiteOk;
  }
  return set_elementwise_output(ctx, op);
}

// The strides of a tensor of shape dims (rank) over an output of out_rank dimensions,
// aligned at the end, 0 where it broadcasts.
static void broadcast_strides(const int* dims, int rank, int out_rank, size_t* stride) {
  size_t s = 1;
  for (int j = out_rank - 1; j >= 0; j--) {
    const int d = j - (out_rank - rank) >= 0 ? dims[j - (out_rank - rank)] : 1;
    stride[j] = d == 1 ? 0 : s;
    s *= (size_t)d;
  }
}

static TfLiteStatus prepare_add(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  int a[KN_MAX_DIMS], b[KN_MAX_DIMS], ra = 0, rb = 0;
  dims_of(ctx, part, op->in, i, a, &ra);
  dims_of(ctx, part, op->w, i, b, &rb);
  op->out_rank = ra > rb ? ra : rb;
  op->broadcast = ra != rb;
  for (int j = 0; j < op->out_rank; j++) {  // numpy's broadcasting, as TFLite's
    const int da = j - (op->out_rank - ra) >= 0 ? a[j - (op->out_rank - ra)] : 1;
    const int db = j - (op->out_rank - rb) >= 0 ? b[j - (op->out_rank - rb)] : 1;
    if (da != db && da != 1 && db != 1) {
      ctx->ReportError(ctx, "edged kernels: ADD of shapes that do not broadcast (%d against %d at dimension %d)", da, db, j);
      return kTfLiteError;
    }
    op->out_dims[j] = da == 1 ? db : da;
    op->broadcast = op->broadcast || da != db;
  }
  broadcast_strides(a, ra, op->out_rank, op->astride);
  broadcast_strides(b, rb, op->out_rank, op->bstride);
  return set_elementwise_output(ctx, op);
}

static TfLiteStatus prepare_lut(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  dims_of(ctx, part, op->in, i, op->out_dims, &op->out_rank);
  if (op->skip) {
    op->batches = op->m = 1;
    return kTfLiteOk;
  }
  return set_elementwise_output(ctx, op);
}

// Layer norm: rows of x's last dimension.
static TfLiteStatus prepare_ln(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  dims_of(ctx, part, op->in, i, op->out_dims, &op->out_rank);
  const int d = op->out_rank > 0 ? op->out_dims[op->out_rank - 1] : 0;
  if (d <= 0 || num_elements(ctx->tensors[op->w].dims) != d || num_elements(ctx->tensors[op->bias].dims) != d) {
    ctx->ReportError(ctx, "edged kernels: layer norm over %d values with %d scales and %d offsets", d,
                     (int)num_elements(ctx->tensors[op->w].dims), (int)num_elements(ctx->tensors[op->bias].dims));
    return kTfLiteError;
  }
  int64_t elems = 1;
  for (int j = 0; j < op->out_rank; j++) elems *= op->out_dims[j];
  op->batches = 1;
  op->m = (int)(elems / d);
  op->n = d;
  return set_output(ctx, op);
}

// A layer norm's int8 rows that only FULLY_CONNECTED operators of the partition read (the
// attention's q, k and v, or fc1) are written by the layer norm straight into the first one's
// prepared rows (kn_prepare_row's x + 128 or x, Kp apart), which all of them then read: no
// pass over the rows on the calling thread per reader. Not with a weight zero point (the row
// sums).
static void link_prepared_rows(kn_part* part) {
  for (int i = 0; i < part->nops; i++) part->ops[i].prep_for = part->ops[i].a_from = -1;
  for (int i = 0; i < part->nops; i++) {
    kn_op* ln = &part->ops[i];
    if (ln->kind != KN_LN || ln->esize != 1 || !ln->out_internal) continue;
    int first = -1;
    bool ok = true;
    for (int j = i + 1; ok && j < part->nops; j++) {
      const kn_op* r = &part->ops[j];
      const bool reads = r->in == ln->out || r->w == ln->out || r->bias == ln->out || r->src == ln->out;
      if (!reads) continue;
      ok = r->kind == KN_FC && r->in == ln->out && r->w != ln->out && r->zb == 0 && r->k == ln->n && r->m == ln->m &&
           r->abuf != NULL;
      if (first < 0) first = j;
    }
    if (!ok || first < 0) continue;
    kn_op* f = &part->ops[first];
    memset(f->abuf, 0, (size_t)f->m * f->kp);  // the padding stays zero
    ln->prep_for = first;
    for (int j = first; j < part->nops; j++) {
      if (part->ops[j].kind == KN_FC && part->ops[j].in == ln->out) part->ops[j].a_from = first;
    }
  }
}

// Places the tensors the partition writes and reads only itself in the scratch by lifetime:
// each has room from the operator that writes it to the last that reads it (through the
// RESHAPEs that alias it), and tensors whose lifetimes do not overlap share room. An operator's
// output never shares its inputs' room (they are read at that operator). Before, each had room
// of its own: a partition from one layer's attention context to the next layer's scores (with
// BATCH_MATMUL taken) needed 8.9 MB in BLIP base's vision tower.
static bool place_internal(kn_part* part) {
  const int n = part->nops;
  int* owner = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));  // whose room op i's output is
  int* last = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));   // the last reader of op i's room
  if (owner == NULL || last == NULL) {
    free(owner);
    free(last);
    return false;
  }
  for (int i = 0; i < n; i++) {
    const kn_op* op = &part->ops[i];
    const kn_op* p = op->alias ? producer(part, op->in, i) : NULL;
    owner[i] = p != NULL ? owner[p - part->ops] : i;
    last[i] = i;
  }
  for (int j = 0; j < n; j++) {
    const kn_op* r = &part->ops[j];
    const int reads[4] = {r->in, r->w, r->bias, r->src};
    for (int k = 0; k < 4; k++) {
      const kn_op* p = reads[k] >= 0 ? producer(part, reads[k], j) : NULL;
      if (p != NULL && last[owner[p - part->ops]] < j) last[owner[p - part->ops]] = j;
    }
  }
  part->scratch_need = 0;
  for (int i = 0; i < n; i++) {
    kn_op* op = &part->ops[i];
    if (owner[i] != i) {
      op->internal_off = part->ops[owner[i]].internal_off;
      continue;
    }
    if (op->internal_size == 0) continue;
    // The lowest offset clear of every earlier room still read at i (first fit).
    size_t off = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (int k = 0; k < i; k++) {
        const kn_op* o = &part->ops[k];
        if (owner[k] != k || o->internal_size == 0 || last[k] < i) continue;
        if (off < o->internal_off + o->internal_size && o->internal_off < off + op->internal_size) {
          off = o->internal_off + o->internal_size;
          moved = true;
        }
      }
    }
    op->internal_off = off;
    if (off + op->internal_size > part->scratch_need) part->scratch_need = off + op->internal_size;
  }
  free(owner);
  free(last);
  return true;
}

static TfLiteStatus part_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  kn_part* part = node->user_data;
  if (part == NULL) return kTfLiteError;
  for (int i = 0; i < part->nops; i++) part->ops[i].internal_size = 0;
  for (int i = 0; i < part->nops; i++) {
    TfLiteStatus s;
    switch (part->ops[i].kind) {
      case KN_FC:
        s = prepare_fc(ctx, part, i);
        break;
      case KN_BMM:
        s = prepare_bmm(ctx, part, i);
        break;
      case KN_CONV:
        s = prepare_conv(ctx, part, i);
        break;
      case KN_WFC:
        s = prepare_wfc(ctx, part, i);
        break;
      case KN_DEQ:
        s = prepare_deq(ctx, part, i);
        break;
      case KN_GATHER:
        s = prepare_gather(ctx, part, i);
        break;
      case KN_TRANSPOSE:
        s = prepare_transpose(ctx, part, i);
        break;
      case KN_ACT_DEQ:
        s = prepare_act_deq(ctx, part, i);
        break;
      case KN_LUT:
        s = prepare_lut(ctx, part, i);
        break;
      case KN_RESHAPE:
        s = prepare_reshape(ctx, part, i);
        break;
      case KN_ADD:
        s = prepare_add(ctx, part, i);
        break;
      case KN_LN:
        s = prepare_ln(ctx, part, i);
        break;
      case KN_LN_PART:
        s = kTfLiteOk;
        break;
      default:
        ctx->ReportError(ctx, "edged kernels: a claimed node could not be read, or a lookup chain was split across partitions");
        return kTfLiteError;
    }
    if (s != kTfLiteOk) return s;
  }
  link_prepared_rows(part);
  if (!place_internal(part)) return kTfLiteError;
  kn_delegate* d = part->d;
  return grow(&d->scratch, &d->cap_scratch, part->scratch_need) ? kTfLiteOk : kTfLiteError;
}

// ---- running ------------------------------------------------------------------------------------

// One GEMM over the pool, int8 (g) or weight-only (wg): tasks are tiles of rows × column blocks.
typedef struct {
  const kn_gemm* g;
  kn_gemm_fn fn;
  const kn_wgemm* wg;
  kn_wgemm_fn wfn;
  int m, rows_per_tile, col_tiles, blocks_per_tile, nblocks;
} kn_gemm_job;

static void gemm_range(const kn_gemm_job* j, int m0, int m1, int b0, int b1) {
  if (j->g != NULL) {
    j->fn(j->g, m0, m1, b0, b1);
  } else {
    j->wfn(j->wg, m0, m1, b0, b1);
  }
}

static void gemm_task(void* arg, int t, int thread) {
  (void)thread;
  const kn_gemm_job* j = arg;
  const int m0 = (t / j->col_tiles) * j->rows_per_tile;
  const int b0 = (t % j->col_tiles) * j->blocks_per_tile;
  int m1 = m0 + j->rows_per_tile, b1 = b0 + j->blocks_per_tile;
  if (m1 > j->m) m1 = j->m;
  if (b1 > j->nblocks) b1 = j->nblocks;
  gemm_range(j, m0, m1, b0, b1);
}

// Splits j (m rows, n columns, mr rows per micro-tile) into tasks for `threads` threads and
// returns how many.
static int plan_job(kn_gemm_job* j, int n, int mr, int threads) {
  j->nblocks = round_up(n, KN_NB) / KN_NB;
  // Several tasks per thread, so that a thread whose core is busy elsewhere does less; a
  // tile of up to 4 blocks (64 columns) keeps its weights in cache for all its rows, and rows
  // are split only when the columns give too few tiles.
  const int want = threads * 4;
  j->blocks_per_tile = j->nblocks / want;
  if (j->blocks_per_tile > 4) j->blocks_per_tile = 4;
  if (j->blocks_per_tile < 1) j->blocks_per_tile = 1;
  j->col_tiles = (j->nblocks + j->blocks_per_tile - 1) / j->blocks_per_tile;
  int row_tiles = 1;
  j->rows_per_tile = j->m;
  if (j->col_tiles < want && j->m > 2 * mr) {
    int rt = (want + j->col_tiles - 1) / j->col_tiles;
    j->rows_per_tile = round_up((j->m + rt - 1) / rt, mr);
    row_tiles = (j->m + j->rows_per_tile - 1) / j->rows_per_tile;
  }
  return row_tiles * j->col_tiles;
}

// Runs j (m rows, n columns, mr rows per micro-tile) on `threads` threads of the pool (1: on
// the caller alone).
static void run_job(kn_pool* pool, kn_gemm_job* j, int n, int mr, int threads) {
  if (threads <= 1) {
    j->nblocks = round_up(n, KN_NB) / KN_NB;
    gemm_range(j, 0, j->m, 0, j->nblocks);
    return;
  }
  kn_pool_run(pool, gemm_task, j, plan_job(j, n, mr, threads));
}

// FULLY_CONNECTED operators that read one input (attention's q, k and v projections) run as
// one job over the pool: one hand-over to the workers and one wait for them instead of three,
// and tasks enough to keep both threads busy to the end.
#define KN_MAX_GROUP 4
typedef struct {
  kn_gemm_job jobs[KN_MAX_GROUP];
  int first[KN_MAX_GROUP + 1];  // the group's first task of each job, and the total
  int count;
} kn_group_job;

static void group_task(void* arg, int t, int thread) {
  kn_group_job* g = arg;
  int j = 0;
  while (t >= g->first[j + 1]) j++;
  gemm_task(&g->jobs[j], t - g->first[j], thread);
}

static void run_gemm(kn_pool* pool, const kn_path* path, const kn_gemm* g, int threads) {
  kn_gemm_job j = {.g = g, .fn = path->gemm, .m = g->m};
  run_job(pool, &j, g->n, path->mr, threads);
}

static void run_wgemm(kn_pool* pool, const kn_path* path, const kn_wgemm* g, int threads) {
  kn_gemm_job j = {.wg = g, .wfn = path->wgemm, .m = g->m};
  run_job(pool, &j, g->n, path->wmr, threads);
}

// Preparing A (vectorized loops: a few microseconds per operator, less than waking a worker).
typedef struct {
  const kn_op* op;
  kn_akind akind;
  const int8_t* x;
  void* dst;
  int32_t* rows;  // row terms, or NULL
} kn_prep_job;

static void prep_rows(const kn_prep_job* j, int m0, int m1) {
  const kn_op* op = j->op;
  for (int m = m0; m < m1; m++) {
    const int32_t sum = kn_prepare_row(j->akind, j->x + (size_t)m * op->k, op->k, op->kp, op->zx,
                                       j->rows != NULL, (char*)j->dst + (size_t)m * op->kp);
    if (j->rows != NULL) j->rows[m] = (int32_t)(0u - (uint32_t)op->zb * (uint32_t)sum);
  }
}

// Copies each patch of a CONV_2D's input into a row of op->patches.
static const int8_t* gather_patches(const kn_op* op, const int8_t* x) {
  const size_t run = (size_t)op->kw * op->ch;  // one patch row: contiguous in NHWC
  int8_t* dst = op->patches;
  for (int b = 0; b < op->out_dims[0]; b++) {
    for (int py = 0; py < op->oh; py++) {
      for (int px = 0; px < op->ow; px++) {
        for (int ky = 0; ky < op->kh; ky++) {
          const size_t row = ((size_t)b * op->ih + (size_t)py * op->kh + ky) * op->iw + (size_t)px * op->kw;
          memcpy(dst, x + row * op->ch, run);
          dst += run;
        }
      }
    }
  }
  return op->patches;
}

// How many operators from i on form a group (kn_group_job): FULLY_CONNECTED operators of one
// input whose weights have no zero point (no row terms), with their A prepared once.
// Operator i's A rows (FULLY_CONNECTED or CONV_2D): those a layer norm wrote (link_prepared_rows),
// or its input prepared into its abuf now, with the row terms when rows is not NULL.
static const void* prepared_a(TfLiteContext* ctx, kn_part* part, int i, int32_t* rows) {
  kn_op* op = &part->ops[i];
  if (op->a_from >= 0) return part->ops[op->a_from].abuf;
  const int8_t* x = data_of(ctx, part, op->in, i);
  if (op->kind == KN_CONV) x = gather_patches(op, x);
  const kn_prep_job pj = {.op = op, .akind = part->d->path->akind, .x = x, .dst = op->abuf, .rows = rows};
  prep_rows(&pj, 0, op->m);
  return op->abuf;
}

static int fc_group(const kn_part* part, int i) {
  const kn_op* a = &part->ops[i];
  if (a->kind != KN_FC || a->zb != 0) return 1;
  int n = 1;
  while (i + n < part->nops && n < KN_MAX_GROUP) {
    const kn_op* b = &part->ops[i + n];
    if (b->kind != KN_FC || b->zb != 0 || b->in != a->in || b->kp != a->kp || b->m != a->m) break;
    n++;
  }
  return n;
}

// The GEMM of FULLY_CONNECTED (or CONV_2D) op on prepared rows a, with row terms rows or NULL.
static kn_gemm fc_gemm(TfLiteContext* ctx, const kn_path* path, const kn_op* op, const void* a, const int32_t* rows) {
  return (kn_gemm){
      .akind = path->akind, .a = a, .a_stride = (size_t)op->kp, .b = op->packed, .kp = op->kp,
      .col = op->col, .row = rows, .rq = &op->rq, .c = out_data(ctx, op), .c_stride = (size_t)op->n,
      .m = op->m, .n = op->n, .fix = op->fix, .fix_start = op->fix_start,
  };
}

static void invoke_fc_group(TfLiteContext* ctx, kn_part* part, int i, int count) {
  kn_delegate* d = part->d;
  const void* a = prepared_a(ctx, part, i, NULL);  // shared: one input, no row terms
  kn_gemm g[KN_MAX_GROUP];
  kn_group_job group = {.count = count};
  const int threads = kn_pool_threads(d->pool);
  for (int j = 0; j < count; j++) {
    const kn_op* op = &part->ops[i + j];
    g[j] = fc_gemm(ctx, d->path, op, a, NULL);
    group.jobs[j] = (kn_gemm_job){.g = &g[j], .fn = d->path->gemm, .m = op->m};
    group.first[j + 1] = group.first[j] + plan_job(&group.jobs[j], op->n, d->path->mr, threads);
  }
  if (threads <= 1) {
    for (int j = 0; j < count; j++) gemm_range(&group.jobs[j], 0, group.jobs[j].m, 0, group.jobs[j].nblocks);
    return;
  }
  kn_pool_run(d->pool, group_task, &group, group.first[count]);
}

static void invoke_fc(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  kn_delegate* d = part->d;
  int32_t* rows = op->zb != 0 ? op->rows : NULL;
  const kn_gemm g = fc_gemm(ctx, d->path, op, prepared_a(ctx, part, i, rows), rows);
  run_gemm(d->pool, d->path, &g, kn_pool_threads(d->pool));
}

// One output batch of a BATCH_MATMUL, with the delegate's bmm_scratch of thread slot `slot`.
static void bmm_batch(const kn_delegate* d, kn_op* op, const int8_t* l, const int8_t* r, int8_t* y,
                      int b, int slot, int threads) {
  const kn_path* path = d->path;
  kn_bmm_bufs s;
  bmm_slot(op, (char*)d->bmm_scratch + (size_t)slot * bmm_slot(op, NULL, NULL), &s);
  const int8_t* lb = l + (size_t)op->lbatch[b] * op->m * op->k;
  const int8_t* rb = r + (size_t)op->rbatch[b] * op->n * op->k;
  // rhs is [n][k] with adj_y, [k][n] without: B of the GEMM is its transpose.
  kn_pack_b(rb, op->n, op->k, op->adj_y ? (size_t)op->k : (size_t)op->n, !op->adj_y, s.packed, s.colsums);
  kn_compensation(path->akind, op->zx, op->zb, op->k, NULL, s.colsums, op->n, s.col);
  if (op->adj_x) {  // lhs is [k][m]
    for (int kk = 0; kk < op->k; kk++) {
      for (int m = 0; m < op->m; m++) s.ltrans[(size_t)m * op->k + kk] = lb[(size_t)kk * op->m + m];
    }
    lb = s.ltrans;
  }
  kn_prep_job pj = {.op = op, .akind = path->akind, .x = lb, .dst = s.abuf, .rows = op->zb != 0 ? s.rows : NULL};
  prep_rows(&pj, 0, op->m);
  const kn_gemm g = {
      .akind = path->akind, .a = s.abuf, .a_stride = (size_t)op->kp, .b = s.packed, .kp = op->kp,
      .col = s.col, .row = pj.rows, .rq = &op->rq, .c = y + (size_t)b * op->m * op->n,
      .c_stride = (size_t)op->n, .m = op->m, .n = op->n,
  };
  run_gemm(d->pool, path, &g, threads);
}

typedef struct {
  const kn_delegate* d;
  kn_op* op;
  const int8_t *l, *r;
  int8_t* y;
} kn_bmm_job;

static void bmm_task(void* arg, int b, int thread) {
  const kn_bmm_job* j = arg;
  bmm_batch(j->d, j->op, j->l, j->r, j->y, b, thread, 1);
}

static void invoke_bmm(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  kn_delegate* d = part->d;
  kn_bmm_job j = {
      .d = d, .op = op, .l = data_of(ctx, part, op->in, i), .r = data_of(ctx, part, op->w, i),
      .y = out_data(ctx, op),
  };
  const int threads = kn_pool_threads(d->pool);
  if (op->batches >= threads) {
    kn_pool_run(d->pool, bmm_task, &j, op->batches);  // a batch per task, each on one thread
  } else {
    for (int b = 0; b < op->batches; b++) bmm_batch(d, op, j.l, j.r, j.y, b, 0, threads);
  }
}

// Weight-only operators below this many multiply-adds run on one thread.
#define KN_WSERIAL_MACS (4.0 * 1024 * 1024)

static void invoke_wfc(TfLiteContext* ctx, kn_part* part, int i) {
  kn_op* op = &part->ops[i];
  kn_delegate* d = part->d;
  if (op->bias >= 0) memcpy(op->wbias, data_of(ctx, part, op->bias, i), sizeof(float) * (size_t)op->n);
  const kn_wgemm g = {
      .a = data_of(ctx, part, op->in, i), .a_stride = (size_t)op->k, .b = op->packed, .k = op->k,
      .scale = op->wscale, .bias = op->wbias, .lo = op->lo, .hi = op->hi, .c = out_data(ctx, op),
      .c_stride = (size_t)op->n, .m = op->m, .n = op->n,
  };
  // A layer of a decoder's token lasts about as long as waking the pool's worker: it runs on
  // the caller alone (BENCHMARKS.md, "Weight-only int8 text models").
  const double macs = (double)op->m * op->n * op->k;
  run_wgemm(d->pool, d->path, &g, macs < KN_WSERIAL_MACS ? 1 : kn_pool_threads(d->pool));
}

// Each row as TFLite's DEQUANTIZE writes it (the int8 value times its row's scale, rounded
// once), for the rows the indices name.
static TfLiteStatus invoke_gather(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  const TfLiteTensor* q = &ctx->tensors[op->src];
  const TfLiteFloatArray* sc = ((const TfLiteAffineQuantization*)q->quantization.params)->scale;
  const int rows = q->dims->data[0];
  const void* idx = data_of(ctx, part, op->w, i);
  const bool wide = ctx->tensors[op->w].type == kTfLiteInt64;
  float* y = out_data(ctx, op);
  for (int m = 0; m < op->m; m++) {
    const int64_t r = wide ? ((const int64_t*)idx)[m] : ((const int32_t*)idx)[m];
    if (r < 0 || r >= rows) {
      ctx->ReportError(ctx, "edged kernels: GATHER index %lld is outside the %d rows", (long long)r, rows);
      return kTfLiteError;
    }
    const float s = sc->size == 1 ? sc->data[0] : sc->data[r];
    const int8_t* row = q->data.int8 + (size_t)r * op->n;
    float* dst = y + (size_t)m * op->n;
    for (int j = 0; j < op->n; j++) dst[j] = (float)row[j] * s;
  }
  return kTfLiteOk;
}

// Output in order, one run of the trailing dimensions the permutation keeps at a time.
static void invoke_transpose(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  const int8_t* x = data_of(ctx, part, op->in, i);
  int8_t* y = out_data(ctx, op);
  const int rank = op->out_rank;
  size_t in_stride[KN_MAX_DIMS];
  size_t s = 1;
  for (int j = rank - 1; j >= 0; j--) {
    in_stride[j] = s;
    s *= (size_t)op->in_dims[j];
  }
  int outer = rank;
  size_t run = 1;
  while (outer > 0 && op->perm[outer - 1] == outer - 1) run *= (size_t)op->out_dims[--outer];
  if (run == 0) return;
  if (op->n == 0) return;
  int idx[KN_MAX_DIMS] = {0};
  size_t src = 0;  // Σ idx[j] · in_stride[perm[j]] over the outer dimensions
  for (;;) {
    memcpy(y, x + src, run);
    y += run;
    int j = outer - 1;
    for (; j >= 0; j--) {
      src += in_stride[op->perm[j]];
      if (++idx[j] < op->out_dims[j]) break;
      src -= (size_t)idx[j] * in_stride[op->perm[j]];
      idx[j] = 0;
    }
    if (j < 0) return;
  }
}

// Values per task when an elementwise operator (DEQUANTIZE, a lookup) is split over the pool
// (BLIP's attention scores: 4 million).
#define KN_CHUNK 65536

// Task t's values [*i0, *i1) of n split in chunks of KN_CHUNK; chunks(n) tasks in all.
static void chunk_range(size_t n, int t, size_t* i0, size_t* i1) {
  *i0 = (size_t)t * KN_CHUNK;
  *i1 = *i0 + KN_CHUNK < n ? *i0 + KN_CHUNK : n;
}

static int chunks(size_t n) { return (int)((n + KN_CHUNK - 1) / KN_CHUNK); }

typedef struct {
  const int8_t* x;
  float* y;
  float scale;
  int32_t zp;
  size_t n;
} kn_deq_job;

static void deq_task(void* arg, int t, int thread) {
  (void)thread;
  const kn_deq_job* j = arg;
  size_t i0, i1;
  chunk_range(j->n, t, &i0, &i1);
  const float scale = j->scale;
  const int32_t zp = j->zp;
  for (size_t i = i0; i < i1; i++) j->y[i] = (float)((int32_t)j->x[i] - zp) * scale;
}

static void invoke_act_deq(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  const TfLiteTensor* q = &ctx->tensors[op->in];
  kn_deq_job j = {.x = data_of(ctx, part, op->in, i), .y = out_data(ctx, op), .scale = q->params.scale,
                  .zp = q->params.zero_point, .n = (size_t)op->n};
  kn_pool_run(part->d->pool, deq_task, &j, chunks(j.n));
}

typedef struct {
  const int8_t* x;
  int8_t* y;
  const int8_t* table;
  size_t n;
  kn_lut_isa isa;
} kn_lut_job;

static void lut_task(void* arg, int t, int thread) {
  (void)thread;
  const kn_lut_job* j = arg;
  size_t i0, i1;
  chunk_range(j->n, t, &i0, &i1);
  kn_lut_apply(j->table, j->x + i0, j->y + i0, i1 - i0, j->isa);
}

static void invoke_lut(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  if (op->skip) return;
  kn_lut_job j = {.x = data_of(ctx, part, op->in, i), .y = out_data(ctx, op), .table = op->table, .n = (size_t)op->n,
                  .isa = part->d->lut_isa};
  kn_pool_run(part->d->pool, lut_task, &j, chunks(j.n));
}

// TFLite's float ADD clamps to the activation's range, ±FLT_MAX without one: an infinite sum
// becomes ±FLT_MAX, NaN stays (std::max and std::min as TFLite applies them).
static inline float add_clamped(float a, float b) {
  float v = a + b;
  v = v < -FLT_MAX ? -FLT_MAX : v;
  return FLT_MAX < v ? FLT_MAX : v;
}

static void invoke_add(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  const float* a = data_of(ctx, part, op->in, i);
  const float* b = data_of(ctx, part, op->w, i);
  float* y = out_data(ctx, op);
  if (!op->broadcast) {
    for (int j = 0; j < op->n; j++) y[j] = add_clamped(a[j], b[j]);
    return;
  }
  int idx[KN_MAX_DIMS] = {0};
  size_t ia = 0, ib = 0;
  for (int j = 0; j < op->n; j++) {
    y[j] = add_clamped(a[ia], b[ib]);
    for (int d = op->out_rank - 1; d >= 0; d--) {  // the next output index, odometer-wise
      ia += op->astride[d];
      ib += op->bstride[d];
      if (++idx[d] < op->out_dims[d]) break;
      ia -= op->astride[d] * (size_t)op->out_dims[d];
      ib -= op->bstride[d] * (size_t)op->out_dims[d];
      idx[d] = 0;
    }
  }
}

static void invoke_ln(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  const TfLiteTensor* y = &ctx->tensors[op->out];
  kn_ln ln = {
      .x = data_of(ctx, part, op->in, i), .gamma = ctx->tensors[op->w].data.f, .beta = ctx->tensors[op->bias].data.f,
      .eps = ctx->tensors[op->src].data.f[0], .rows = op->m, .d = op->n, .quantized = op->esize == 1,
      .scale = y->params.scale, .zp = y->params.zero_point, .y = out_data(ctx, op), .y_stride = (size_t)op->n,
      .simd = part->d->ln_simd,
  };
  if (op->prep_for >= 0) {  // straight into the FULLY_CONNECTED's prepared rows
    const kn_op* fc = &part->ops[op->prep_for];
    ln.y = fc->abuf;
    ln.y_stride = (size_t)fc->kp;
    ln.y_xor = part->d->path->akind == KN_A_U8 ? 0x80 : 0;
  }
  kn_ln_run(part->d->pool, &ln);
}

// A RESHAPE's output is its input's bytes: nothing to do where it shares their place.
static void invoke_reshape(TfLiteContext* ctx, kn_part* part, int i) {
  const kn_op* op = &part->ops[i];
  if (!op->alias) memcpy(out_data(ctx, op), data_of(ctx, part, op->in, i), (size_t)op->n);
}

static TfLiteStatus part_invoke(TfLiteContext* ctx, TfLiteNode* node) {
  kn_part* part = node->user_data;
  for (int i = 0; i < part->nops; i++) {
    switch (part->ops[i].kind) {
      case KN_GATHER:
        if (invoke_gather(ctx, part, i) != kTfLiteOk) return kTfLiteError;
        break;
      case KN_BMM:
        invoke_bmm(ctx, part, i);
        break;
      case KN_WFC:
        invoke_wfc(ctx, part, i);
        break;
      case KN_DEQ:  // its readers read the int8 weights
        break;
      case KN_TRANSPOSE:
        invoke_transpose(ctx, part, i);
        break;
      case KN_ACT_DEQ:
        invoke_act_deq(ctx, part, i);
        break;
      case KN_LUT:
        invoke_lut(ctx, part, i);
        break;
      case KN_ADD:
        invoke_add(ctx, part, i);
        break;
      case KN_RESHAPE:
        invoke_reshape(ctx, part, i);
        break;
      case KN_FC: {
        const int count = fc_group(part, i);
        if (count > 1) {
          invoke_fc_group(ctx, part, i, count);
          i += count - 1;
        } else {
          invoke_fc(ctx, part, i);
        }
        break;
      }
      case KN_LN:
        invoke_ln(ctx, part, i);
        break;
      case KN_LN_PART:
        break;
      default:
        invoke_fc(ctx, part, i);  // CONV_2D
    }
  }
  return kTfLiteOk;
}

// ---- the delegate ---------------------------------------------------------------------------------

// Resizes *a to a table of n ints by tensor index, all -1; 0 when out of memory.
static int tensor_table(int** a, size_t n) {
  int* p = realloc(*a, (n > 0 ? n : 1) * sizeof(int));
  if (p == NULL) return 0;
  *a = p;
  for (size_t t = 0; t < n; t++) p[t] = -1;
  return 1;
}

// Marks in d->deq_src the outputs of the DEQUANTIZE nodes the kernels take with their readers:
// every node that reads the float weights must be a weight-only FULLY_CONNECTED taking them as
// its weights or a GATHER of their rows, or the float tensor is needed after all and all stay
// with TFLite. 0 when out of memory.
static int find_weight_only(TfLiteContext* ctx, kn_delegate* d, const TfLiteIntArray* plan) {
  const size_t nt = ctx->tensors_size;
  if (!tensor_table(&d->deq_src, nt)) return 0;
  for (int i = 0; i < plan->size; i++) {
    TfLiteNode* node = NULL;
    TfLiteRegistration* reg = NULL;
    if (ctx->GetNodeAndRegistration(ctx, plan->data[i], &node, &reg) != kTfLiteOk || node->delegate != NULL) continue;
    if (reg->builtin_code == KN_OP_DEQUANTIZE && deq_claimable(ctx, node)) {
      d->deq_src[node->outputs->data[0]] = node->inputs->data[0];
    }
  }
  // Readers: a candidate read by anything else is dropped; one read by nothing is left alone.
  int* readers = calloc(nt, sizeof(int));
  if (readers == NULL) return 0;
  for (int i = 0; i < plan->size; i++) {
    TfLiteNode* node = NULL;
    TfLiteRegistration* reg = NULL;
    if (ctx->GetNodeAndRegistration(ctx, plan->data[i], &node, &reg) != kTfLiteOk) continue;
    const bool wfc = node->delegate == NULL && reg->builtin_code == KN_OP_FULLY_CONNECTED &&
                     wfc_claimable(ctx, node, d->deq_src);
    const bool gather = node->delegate == NULL && reg->builtin_code == KN_OP_GATHER &&
                        gather_claimable(ctx, node, d->deq_src);
    for (int j = 0; j < node->inputs->size; j++) {
      const int t = node->inputs->data[j];
      if (t < 0 || d->deq_src[t] < 0) continue;
      if ((wfc && j == 1) || (gather && j == 0)) {
        if (readers[t] >= 0) readers[t]++;
      } else {
        readers[t] = -1;
      }
    }
  }
  for (size_t t = 0; t < nt; t++) {
    if (readers[t] <= 0) d->deq_src[t] = -1;
  }
  free(readers);
  return 1;
}

// Finds the layer norms the kernels take (x86-64: on arm64 TFLite's QUANTIZE is NEON and
// rounds otherwise) and marks their nodes in d->ln_node. 0 when out of memory.
static int find_layernorms(TfLiteContext* ctx, kn_delegate* d, const TfLiteIntArray* plan) {
  free(d->chains);
  free(d->ln_node);
  d->chains = NULL;
  d->ln_node = NULL;
  d->ln_nodes = 0;
#if !defined(__x86_64__)
  (void)ctx;
  (void)plan;
  return 1;
#endif
  const int n = kn_ln_find(ctx, plan, &d->chains);
  if (n < 0) return 0;
  if (n == 0) return 1;
  for (int i = 0; i < plan->size; i++) {
    if (plan->data[i] >= d->ln_nodes) d->ln_nodes = plan->data[i] + 1;
  }
  d->ln_node = malloc((size_t)d->ln_nodes * sizeof(int));
  if (d->ln_node == NULL) return 0;
  for (int i = 0; i < d->ln_nodes; i++) d->ln_node[i] = -1;
  for (int c = 0; c < n; c++) {
    for (int j = 0; j < d->chains[c].nnodes; j++) d->ln_node[d->chains[c].nodes[j]] = c;
  }
  return 1;
}

// A layer norm's inner tensors must stay inside its partition: one TFLite would make a
// partition's output (a graph output: nothing else reads them) drops the chain from the claim.
// Returns the new count of claimed nodes.
static int keep_layernorms_inside(TfLiteContext* ctx, kn_delegate* d, TfLiteIntArray* claim) {
  TfLiteDelegateParams* pp = NULL;
  int np = 0;
  const bool ok = ctx->PreviewDelegatePartitioning(ctx, claim, &pp, &np) == kTfLiteOk;
  bool* out = calloc(ctx->tensors_size, sizeof(bool));
  for (int p = 0; ok && out != NULL && p < np; p++) {
    for (int j = 0; j < pp[p].output_tensors->size; j++) {
      if (pp[p].output_tensors->data[j] >= 0) out[pp[p].output_tensors->data[j]] = true;
    }
  }
  for (int i = 0; i < d->ln_nodes; i++) {
    const int c = d->ln_node[i];
    if (c < 0 || d->chains[c].nodes[0] != i) continue;
    bool drop = !ok || out == NULL;
    for (int j = 0; !drop && j < d->chains[c].ninner; j++) drop = out[d->chains[c].inner[j]];
    if (!drop) continue;
    for (int j = 0; j < d->chains[c].nnodes; j++) d->ln_node[d->chains[c].nodes[j]] = -2;
    d->ln--;
  }
  free(out);
  int n = 0;
  for (int i = 0; i < claim->size; i++) {
    const int node = claim->data[i];
    if (node < d->ln_nodes && d->ln_node[node] == -2) {
      d->ln_node[node] = -1;
    } else {
      claim->data[n++] = node;
    }
  }
  claim->size = n;
  return n;
}

static TfLiteStatus delegate_prepare(TfLiteContext* ctx, TfLiteDelegate* base) {
  kn_delegate* d = base->data_;
  d->nodes = d->partitions = d->fc = d->bmm = d->conv = d->wfc = d->transpose = d->deq = d->lut = d->ln = 0;
  TfLiteIntArray* plan = NULL;
  if (ctx->GetExecutionPlan(ctx, &plan) != kTfLiteOk) return kTfLiteError;
  d->graph_nodes = plan->size;
  if (!find_weight_only(ctx, d, plan) || !find_layernorms(ctx, d, plan)) return kTfLiteError;
  if (!tensor_table(&d->lut_root, ctx->tensors_size) || !tensor_table(&d->lut_id, ctx->tensors_size)) {
    return kTfLiteError;
  }
  TfLiteIntArray* claim = TfLiteIntArrayCreate(plan->size);
  if (claim == NULL) return kTfLiteError;
  // Tensors written by the nodes claimed so far (the plan is in execution order).
  bool* ours = calloc(ctx->tensors_size, sizeof(bool));
  if (ours == NULL) {
    TfLiteIntArrayFree(claim);
    return kTfLiteError;
  }
  int n = 0;
  for (int i = 0; i < plan->size; i++) {
    TfLiteNode* node = NULL;
    TfLiteRegistration* reg = NULL;
    if (ctx->GetNodeAndRegistration(ctx, plan->data[i], &node, &reg) != kTfLiteOk) continue;
    if (node->delegate != NULL) continue;
    if (plan->data[i] < d->ln_nodes && d->ln_node[plan->data[i]] >= 0) {  // kn_ln_find checked it
      claim->data[n++] = plan->data[i];
      d->ln += d->chains[d->ln_node[plan->data[i]]].nodes[0] == plan->data[i];
    } else if (reg->builtin_code == KN_OP_DEQUANTIZE && d->deq_src[node->outputs->data[0]] >= 0) {
      claim->data[n++] = plan->data[i];
    } else if (reg->builtin_code == KN_OP_FULLY_CONNECTED && node->inputs->size >= 2 && node->inputs->data[1] >= 0 &&
               d->deq_src[node->inputs->data[1]] >= 0) {
      claim->data[n++] = plan->data[i];  // find_weight_only checked it
      d->wfc++;
    } else if (reg->builtin_code == KN_OP_GATHER && node->inputs->size == 2 && node->inputs->data[0] >= 0 &&
               d->deq_src[node->inputs->data[0]] >= 0) {
      claim->data[n++] = plan->data[i];
    } else if (reg->builtin_code == KN_OP_FULLY_CONNECTED && fc_claimable(ctx, node)) {
      claim->data[n++] = plan->data[i];
      d->fc++;
    } else if (reg->builtin_code == KN_OP_CONV_2D && conv_claimable(ctx, node)) {
      claim->data[n++] = plan->data[i];
      d->conv++;
    } else if (d->batch_matmul && reg->builtin_code == KN_OP_BATCH_MATMUL && bmm_claimable(ctx, node)) {
      claim->data[n++] = plan->data[i];
      d->bmm++;
    } else if ((reg->builtin_code == KN_OP_MUL || reg->builtin_code == KN_OP_LOGISTIC) &&
               lut_claim(ctx, d, node, reg->builtin_code) != 0) {
      if (d->lut_root[node->outputs->data[0]] < 0) {  // out of memory
        free(ours);
        TfLiteIntArrayFree(claim);
        return kTfLiteError;
      }
      claim->data[n++] = plan->data[i];
    } else if (reg->builtin_code == KN_OP_ADD && add_claimable(ctx, node, ours)) {
      claim->data[n++] = plan->data[i];
    } else if (reg->builtin_code == KN_OP_RESHAPE && reshape_claimable(ctx, node, ours)) {
      claim->data[n++] = plan->data[i];
    } else if (reg->builtin_code == KN_OP_TRANSPOSE && transpose_claimable(ctx, node)) {
      claim->data[n++] = plan->data[i];
      d->transpose++;
    } else if (reg->builtin_code == KN_OP_DEQUANTIZE && d->act_dequantize && act_deq_claimable(ctx, node)) {
      // After a claimed operator too: the int8 tensor between them then lives in the
      // delegate's scratch (shared by all partitions), and the dense layer, its DEQUANTIZE
      // and the residual ADD stay in one partition.
      claim->data[n++] = plan->data[i];
      d->deq++;
    }
    if (n > 0 && claim->data[n - 1] == plan->data[i]) {
      for (int j = 0; j < node->outputs->size; j++) {
        if (node->outputs->data[j] >= 0) ours[node->outputs->data[j]] = true;
      }
    }
  }
  free(ours);
  claim->size = n;
  if (d->ln > 0) n = keep_layernorms_inside(ctx, d, claim);
  d->nodes = n;
  TfLiteStatus s = kTfLiteOk;
  if (n > 0) {
    const TfLiteRegistration reg = {
        .init = part_init, .free = part_free, .prepare = part_prepare, .invoke = part_invoke,
        .builtin_code = KN_OP_DELEGATE, .custom_name = "EdgedKernels", .version = 1,
    };
    s = ctx->ReplaceNodeSubsetsWithDelegateKernels(ctx, reg, claim, base);
  }
  TfLiteIntArrayFree(claim);
  if (s == kTfLiteOk && n > 0 && ctx->GetExecutionPlan(ctx, &plan) == kTfLiteOk) {
    for (int i = 0; i < plan->size; i++) {
      TfLiteNode* node = NULL;
      TfLiteRegistration* reg = NULL;
      if (ctx->GetNodeAndRegistration(ctx, plan->data[i], &node, &reg) == kTfLiteOk && node->delegate == base) {
        d->partitions++;
      }
    }
  }
  return s;
}

kn_delegate* kn_delegate_create(const kn_path* path, int threads, int batch_matmul, int act_dequantize, long spin_ns) {
  kn_delegate* d = calloc(1, sizeof *d);
  if (d == NULL) return NULL;
  d->pool = kn_pool_create(threads, spin_ns);
  if (d->pool == NULL) {
    free(d);
    return NULL;
  }
  d->path = path;
  d->lut_isa = kn_lut_isa_for(path);
  d->ln_simd = path->needs != 0 && (kn_cpu_features() & KN_CPU_AVX2);  // not the generic path
  d->batch_matmul = batch_matmul && !path->split_pairs;  // a BATCH_MATMUL's B would be split every run
  d->act_dequantize = act_dequantize;
  d->base.data_ = d;
  d->base.Prepare = delegate_prepare;
  d->base.flags = kTfLiteDelegateFlagsNone;
  return d;
}

void kn_delegate_delete(kn_delegate* d) {
  if (d == NULL) return;
  kn_pool_destroy(d->pool);
  free(d->deq_src);
  free(d->lut_root);
  free(d->lut_id);
  free(d->lut_tabs);
  free(d->chains);
  free(d->ln_node);
  free(d->scratch);
  free(d->bmm_scratch);
  free(d);
}

TfLiteDelegate* kn_delegate_tflite(kn_delegate* d) { return &d->base; }

void kn_delegate_stats(const kn_delegate* d, int* graph_nodes, int* nodes, int* partitions, int* fc, int* bmm,
                       int* conv, int* wfc, int* transpose, int* deq, int* lut, int* ln) {
  *lut = d->lut;
  *ln = d->ln;
  *transpose = d->transpose;
  *deq = d->deq;
  *conv = d->conv;
  *wfc = d->wfc;
  *graph_nodes = d->graph_nodes;
  *nodes = d->nodes;
  *partitions = d->partitions;
  *fc = d->fc;
  *bmm = d->bmm;
}
