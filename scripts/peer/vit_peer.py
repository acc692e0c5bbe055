#!/usr/bin/env python3
"""The peer users would otherwise pick: PyTorch eager on the same ViT towers as edged bench.

Builds, with random weights, the image towers of CLIP ViT-B/32 (224, patch 32, quick GELU,
pre-LN, class-token pooling and projection to 512) and BLIP base (384, patch 16, exact GELU,
post-LN over every token), written as transformers writes them (separate q/k/v/out nn.Linear
for CLIP, one qkv nn.Linear for BLIP, eager attention with matmul and softmax), and times one
image through each at fp32 and at torch.ao.quantization.quantize_dynamic int8 (every
nn.Linear with int8 weights, activations quantized on the fly), after warm-up, with a fixed
number of threads. With --floor it also times one large int8 linear (the rate that sets the
compute floor of issue 7).

Prints one JSON object per measurement and line, with edged bench's fields:
  {"stage": "peer.clip_image", "model": "pytorch-1.13.1", "precision": "int8-dynamic",
   "delegate": "onednn", "threads": 2, "p50_ms": ..., "p90_ms": ..., "runs": 20}

Needs Debian's python3-torch (apt-get install python3-torch); run it with /usr/bin/python3
and OPENBLAS_CORETYPE unset (make bench-peer does both).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, heads, fused_qkv):
        super().__init__()
        self.heads, self.dh = heads, dim // heads
        self.scale = self.dh ** -0.5
        self.fused = fused_qkv
        if fused_qkv:  # BLIP: BlipAttention.qkv, .projection
            self.qkv = nn.Linear(dim, 3 * dim)
        else:  # CLIP: CLIPAttention.q_proj, k_proj, v_proj, out_proj
            self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, s, d = x.shape
        if self.fused:
            q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4)
        else:
            split = lambda t: t.reshape(b, s, self.heads, self.dh).transpose(1, 2)
            q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        probs = torch.softmax(torch.matmul(q * self.scale, k.transpose(-1, -2)), dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, d)
        return self.out_proj(ctx)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Layer(nn.Module):
    def __init__(self, dim, heads, mlp, act, fused_qkv, eps):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=eps), nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, fused_qkv)
        self.fc1, self.fc2, self.act = nn.Linear(dim, mlp), nn.Linear(mlp, dim), act

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class ViT(nn.Module):
    def __init__(self, image, patch, dim, layers, heads, mlp, act, fused_qkv, pre_ln, projection, eps=1e-5):
        super().__init__()
        n = (image // patch) ** 2 + 1
        self.patch = nn.Conv2d(3, dim, patch, stride=patch, bias=projection == 0)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, n, dim) * 0.02)
        self.pre_ln = nn.LayerNorm(dim, eps=eps) if pre_ln else nn.Identity()
        self.layers = nn.ModuleList([Layer(dim, heads, mlp, act, fused_qkv, eps) for _ in range(layers)])
        self.post_ln = nn.LayerNorm(dim, eps=eps)
        self.proj = nn.Linear(dim, projection, bias=False) if projection else None

    def forward(self, px):
        x = self.patch(px).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.pre_ln(x)
        for layer in self.layers:
            x = layer(x)
        if self.proj is None:
            return self.post_ln(x)  # BLIP: last_hidden_state
        e = self.proj(self.post_ln(x[:, 0]))  # CLIP: image_embeds
        return e / e.norm(dim=-1, keepdim=True)


TOWERS = {
    # stage, image size, builder
    "clip-b32-vision": ("peer.clip_image", 224, lambda: ViT(224, 32, 768, 12, 12, 3072, QuickGELU(), False, True, 512)),
    "blip-base-vision": ("peer.blip_vision", 384, lambda: ViT(384, 16, 768, 12, 12, 3072, nn.GELU(), True, False, 0)),
}


def percentile(sorted_ms, p):
    """Nearest rank, as edged bench computes it."""
    rank = max(1, min(len(sorted_ms), math.ceil(p / 100 * len(sorted_ms))))
    return sorted_ms[rank - 1]


def measure(fn, warmup, runs, max_time):
    for _ in range(warmup):
        fn()
    times, spent = [], 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt * 1000)
        spent += dt
        if max_time and spent >= max_time and len(times) >= 3:
            break
    times.sort()
    return percentile(times, 50), percentile(times, 90), len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--towers", default="clip-b32-vision,blip-base-vision")
    ap.add_argument("--precision", default="fp32,int8-dynamic")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--max-time", type=float, default=20.0, help="seconds of timed work per measurement before stopping early (at least 3 runs)")
    ap.add_argument("--engine", default="", help="quantized engine for int8-dynamic (default: PyTorch's; e.g. onednn, qnnpack, fbgemm)")
    ap.add_argument("--floor", action="store_true", help="also time one int8 linear 512x768x3072 (issue 7's compute floor)")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.engine:
        torch.backends.quantized.engine = args.engine
    engine = torch.backends.quantized.engine
    model_name = "pytorch-" + torch.__version__.split("+")[0]
    blas = "openblas" if "OPENBLAS_CORETYPE" not in os.environ else "openblas(OPENBLAS_CORETYPE=%s)" % os.environ["OPENBLAS_CORETYPE"]
    print("# torch %s, %d threads, quantized engine %s, OPENBLAS_CORETYPE %s" % (
        torch.__version__, torch.get_num_threads(), engine, os.environ.get("OPENBLAS_CORETYPE", "unset")), file=sys.stderr)

    def emit(stage, precision, delegate, p50, p90, runs, **extra):
        rec = {"stage": stage, "model": model_name, "precision": precision, "delegate": delegate,
               "threads": args.threads, "p50_ms": round(p50, 3), "p90_ms": round(p90, 3), "runs": runs}
        rec.update(extra)
        print(json.dumps(rec), flush=True)

    with torch.inference_mode():
        for name in filter(None, args.towers.split(",")):  # --towers "" with --floor: the linear alone
            stage, size, build = TOWERS[name]
            model = build().eval()
            px = torch.randn(1, 3, size, size)
            for precision in args.precision.split(","):
                if precision == "fp32":
                    m, delegate = model, blas
                elif precision == "int8-dynamic":
                    m = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
                    delegate = engine
                else:
                    sys.exit("unknown precision %r" % precision)
                p50, p90, n = measure(lambda: m(px), args.warmup, args.runs, args.max_time)
                emit(stage, precision, delegate, p50, p90, n, note=name)
        if args.floor:
            # A large int8 matrix product: 512 rows, 768 in, 3072 out (1.21 GMAC).
            lin = nn.Linear(768, 3072)
            q = torch.ao.quantization.quantize_dynamic(nn.Sequential(lin), {nn.Linear}, dtype=torch.qint8)
            x = torch.randn(512, 768)
            p50, p90, n = measure(lambda: q(x), args.warmup, max(args.runs, 50), args.max_time)
            macs = 512 * 768 * 3072
            emit("peer.int8_linear", "int8-dynamic", engine, p50, p90, n,
                 note="512x768x3072: %.0f GMAC/s" % (macs / (p50 / 1000) / 1e9))
            p50, p90, n = measure(lambda: lin(x), args.warmup, max(args.runs, 50), args.max_time)
            emit("peer.fp32_linear", "fp32", blas, p50, p90, n,
                 note="512x768x3072: %.0f GMAC/s" % (macs / (p50 / 1000) / 1e9))


if __name__ == "__main__":
    main()
