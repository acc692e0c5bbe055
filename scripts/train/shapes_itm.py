#!/usr/bin/python3
"""Trains the shapes image-text matching model (models/shapes/blip_itm).

BLIP's image-text matching (ITM) head reads a text against the picture's patches through the
text encoder's cross-attention and says whether the text describes the picture; the ITC
projections compare one feature of each. This script fine-tunes both from the shapes models
on scenes of the shapes world rendered as the models' README says, and writes a transformers
BlipForImageTextRetrieval checkpoint (the tensor names and config of transformers' own) that
edged converts like any other.

Where the weights come from: the image-grounded text encoder is the shapes VQA model's
question encoder (BERT with cross-attention, bidirectional, [CLS] first: what ITM runs). The
vision tower is the shapes CLIP's, mapped onto BLIP's layout (clip_vision_weights): the
shapes BLIP models' towers barely see shapes (their captions and answers mostly miss on the
shape), and fine-tuned from the VQA tower the ITM model learned colours, backgrounds and
counts but not shapes, order or swaps (README, "The shapes ITM model"), where the CLIP tower,
trained on the 15 colour-shape labels, tells shapes apart from the start. An auxiliary head (training only, not
saved) reads the colours and shapes of the left and right objects off the image's class
token, which keeps shape and place in the tower's features while ITM learns to read them.

What a text means, as the model learns it:
- a caption ("a red circle and a blue square on a gray background") describes the whole
  scene: every object, left to right, and the background;
- a mention ("red circle", "a photo of a red circle", "a red circle and a blue square")
  names things the picture shows, in any order.
The negatives that matter are the ones a bag of words cannot tell apart: two objects with
their shapes or colours swapped ("a red square and a blue circle" for a red circle beside a
blue square), the same objects in the other order, one attribute changed, an object left out
or added.

Plain PyTorch (Debian's python3-torch), no transformers: run it with /usr/bin/python3.
It logs to OUT/train.log, writes a checkpoint to OUT/checkpoint every --save-minutes and the
training state to OUT/state.pt, from which --resume continues. Not part of `make test`.

usage: nice -n 19 /usr/bin/python3 scripts/train/shapes_itm.py --out /tmp/itm
(the committed model: the defaults, 6000 steps; see scripts/train/shapes_itm.log)
"""
import argparse
import json
import math
import os
import random
import shutil
import struct
import sys
import time


def _threads():
    """--threads, read before torch starts its OpenMP pool."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "2"


# OpenMP threads that spin while they wait take the CPU from everyone on a shared machine
# (measured here: 6 s a step instead of 0.3 s, most of it spinning).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", _threads())

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHAPES = os.path.join(ROOT, "models", "shapes")

# ---------------------------------------------------------------- the world (models/shapes/README)
COLORS = {"red": (220, 35, 35), "green": (35, 175, 60), "blue": (40, 70, 225), "yellow": (235, 215, 40),
          "purple": (150, 50, 200)}
BACKGROUNDS = {"black": (15, 15, 15), "gray": (128, 128, 128), "white": (240, 240, 240)}
SHAPE_NAMES = ["circle", "square", "triangle"]
LABELS = [(c, s) for c in COLORS for s in SHAPE_NAMES]
IMG = 64
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)
# Canvases (width, height): square ones as in the models' training, and the 4:3 frames of the
# synthetic camera and the reference scenes, which the processor squeezes into 64x64.
CANVASES = [(64, 64), (96, 96), (128, 128), (160, 160), (160, 120), (320, 240), (120, 160)]


def sample_scene(rng, two=None):
    """A scene as the README draws it; two objects with probability 1/2 (the hard case) unless told."""
    n = 2 if (rng.random() < 0.5 if two is None else two) else 1
    objs = []
    while len(objs) < n:
        o = rng.choice(LABELS)
        if o not in objs:
            objs.append(o)
    placed = []
    for i, (c, s) in enumerate(objs):
        if n == 1:
            size, x = rng.uniform(0.14, 0.28), rng.uniform(0.32, 0.68)
        else:
            size = rng.uniform(0.12, 0.2)
            x = rng.uniform(0.22, 0.32) if i == 0 else rng.uniform(0.68, 0.78)
        placed.append({"color": c, "shape": s, "x": x, "y": rng.uniform(0.32, 0.68), "size": size,
                       "tint": [rng.uniform(-15, 15) for _ in range(3)]})
    return {"bg": rng.choice(list(BACKGROUNDS)), "objects": placed}


_GRIDS = {}


def render(scene, w, h, rng):
    """uint8-valued float tensor [3, h, w] as the shapes renderer draws it (hard edges, tint, noise)."""
    if (w, h) not in _GRIDS:
        y = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w) + 0.5
        x = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w) + 0.5
        _GRIDS[(w, h)] = (x, y)
    x, y = _GRIDS[(w, h)]
    side = min(w, h)
    ox, oy = (w - side) / 2, (h - side) / 2
    img = torch.tensor(BACKGROUNDS[scene["bg"]], dtype=torch.float32).view(3, 1, 1).expand(3, h, w).clone()
    for o in scene["objects"]:
        cx, cy, r = ox + side * o["x"], oy + side * o["y"], side * o["size"]
        if o["shape"] == "circle":
            m = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        elif o["shape"] == "square":
            m = ((x - cx).abs() < r * 0.85) & ((y - cy).abs() < r * 0.85)
        else:
            top, bot = cy - r, cy + r * 0.8
            m = (y > top) & (y < bot) & ((x - cx).abs() < (y - top) / (bot - top) * r)
        c = (torch.tensor(COLORS[o["color"]], dtype=torch.float32) + torch.tensor(o["tint"])).clamp(0, 255)
        img[:, m] = c.view(3, 1)
    sigma = rng.uniform(0, 6)
    if sigma > 0:
        img = img + torch.randn(img.shape) * sigma
    return img.clamp(0, 255).round()


def preprocess(img):
    """BlipImageProcessor's resize: bicubic (antialiased) to 64x64, rounded back to 8 bits as
    torchvision does; normalise does the rest."""
    t = img
    if t.shape[1] != IMG or t.shape[2] != IMG:
        t = F.interpolate(t.unsqueeze(0), size=(IMG, IMG), mode="bicubic", antialias=True, align_corners=False)[0]
        t = t.round().clamp(0, 255)
    return t


def picture(scene, rng):
    """The model's input, as 8-bit values (what the processor's resize rounds to)."""
    w, h = rng.choice(CANVASES)
    return preprocess(render(scene, w, h, rng)).to(torch.uint8)


def normalise(px):
    return (px.float() / 255.0 - MEAN) / STD


# ---------------------------------------------------------------- texts
def phrase(o):
    return f"{o[0]} {o[1]}"


def objects_of(scene):
    return [(o["color"], o["shape"]) for o in sorted(scene["objects"], key=lambda o: o["x"])]


def caption(objs, bg):
    return " and ".join("a " + phrase(o) for o in objs) + f" on a {bg} background"


MENTION_ONE = ["{}", "a {}", "a photo of a {}", "a picture of a {}"]
MENTION_TWO = ["a {} and a {}", "a photo of a {} and a {}", "a picture of a {} and a {}", "{} and {}"]


def mention(objs, rng):
    if len(objs) == 1:
        return rng.choice(MENTION_ONE).format(phrase(objs[0]))
    return rng.choice(MENTION_TWO).format(phrase(objs[0]), phrase(objs[1]))


def other_label(rng, exclude, color=None, shape=None):
    """A label not in exclude, keeping the colour or the shape when given."""
    while True:
        c = color or rng.choice(list(COLORS))
        s = shape or rng.choice(SHAPE_NAMES)
        if (c, s) not in exclude:
            return (c, s)


def caption_negative(scene, rng, kind=None):
    """A caption that does not describe the scene, and what kind of mistake it makes."""
    objs, bg = objects_of(scene), scene["bg"]
    two = len(objs) == 2
    kinds = (["swap", "swap", "swap", "order", "color", "shape", "background", "drop", "other"] if two
             else ["color", "shape", "background", "add", "add", "other"])
    kind = kind or rng.choice(kinds)
    out = list(objs)
    if kind == "swap":  # colours stay in place, shapes change places
        (c0, s0), (c1, s1) = objs
        if s0 == s1:  # nothing to swap: change a shape instead
            return caption_negative(scene, rng, "shape")
        out = [(c0, s1), (c1, s0)]
    elif kind == "order":
        out = objs[::-1]
    elif kind == "color":
        i = rng.randrange(len(objs))
        out[i] = other_label(rng, objs, shape=objs[i][1])
    elif kind == "shape":
        i = rng.randrange(len(objs))
        out[i] = other_label(rng, objs, color=objs[i][0])
    elif kind == "background":
        bg = rng.choice([b for b in BACKGROUNDS if b != scene["bg"]])
    elif kind == "drop":
        out = [rng.choice(objs)]
    elif kind == "add":
        extra = other_label(rng, objs)
        out = [extra] + objs if rng.random() < 0.5 else objs + [extra]
    else:  # any other scene's caption
        while True:
            s = sample_scene(rng)
            if (objects_of(s), s["bg"]) != (objs, scene["bg"]):
                return caption(objects_of(s), s["bg"]), kind
    return caption(out, bg), kind


def mention_negative(scene, rng):
    """A mention of something the scene does not show."""
    objs = objects_of(scene)
    present = set(objs)
    o = rng.choice(objs)
    pick = rng.random()
    if len(objs) == 2 and pick < 0.4 and objs[0][1] != objs[1][1]:
        (c0, s0), (c1, s1) = objs
        pair = [(c0, s1), (c1, s0)]
        rng.shuffle(pair)
        return mention(pair, rng)
    if pick < 0.6:
        wrong = other_label(rng, present, color=o[0])
    elif pick < 0.8:
        wrong = other_label(rng, present, shape=o[1])
    else:
        wrong = other_label(rng, present)
    if rng.random() < 0.3:  # one right, one wrong
        pair = [o, wrong]
        rng.shuffle(pair)
        return mention(pair, rng)
    return mention([wrong], rng)


def mention_positive(scene, rng):
    objs = objects_of(scene)
    if len(objs) == 2 and rng.random() < 0.5:
        pair = list(objs)
        rng.shuffle(pair)
        return mention(pair, rng)
    return mention([rng.choice(objs)], rng)


class Tokenizer:
    """The shapes models' BERT WordPiece vocabulary, for the lower-case words this script says."""

    def __init__(self, path):
        tok = json.load(open(path))
        self.vocab = tok["model"]["vocab"]
        self.cls, self.sep, self.pad = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[PAD]"]

    def encode(self, text):
        ids = [self.cls]
        for word in text.split():
            if word not in self.vocab:
                raise ValueError(f"{word!r} of {text!r} is not a word of the vocabulary")
            ids.append(self.vocab[word])
        return ids + [self.sep]

    def batch(self, texts):
        ids = [self.encode(t) for t in texts]
        n = max(len(i) for i in ids)
        out = torch.full((len(ids), n), self.pad, dtype=torch.long)
        mask = torch.zeros((len(ids), n))
        for j, i in enumerate(ids):
            out[j, :len(i)] = torch.tensor(i)
            mask[j, :len(i)] = 1
        return out, mask


# ---------------------------------------------------------------- safetensors, by hand
def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (path, name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data, dtype="<f4", count=(b - a) // 4, offset=8 + n + a).copy()).view(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        b = tensors[name].detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ---------------------------------------------------------------- the model (transformers' names)
class VisionAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.projection = nn.Linear(d, d)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-1, -2)) * (D // self.heads) ** -0.5
        return self.projection((a.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, d, inter):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, inter), nn.Linear(inter, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class VisionLayer(nn.Module):
    def __init__(self, d, heads, inter, eps):
        super().__init__()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.self_attn, self.mlp = VisionAttention(d, heads), MLP(d, inter)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class VisionEmbeddings(nn.Module):
    def __init__(self, d, patch, tokens):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, d))
        self.patch_embedding = nn.Conv2d(3, d, patch, patch)
        self.position_embedding = nn.Parameter(torch.zeros(1, tokens, d))

    def forward(self, px):
        p = self.patch_embedding(px).flatten(2).transpose(1, 2)
        return torch.cat([self.class_embedding.expand(len(px), -1, -1), p], 1) + self.position_embedding


class Encoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)


class Vision(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, tokens = c["hidden_size"], (c["image_size"] // c["patch_size"]) ** 2 + 1
        self.embeddings = VisionEmbeddings(d, c["patch_size"], tokens)
        self.encoder = Encoder([VisionLayer(d, c["num_attention_heads"], c["intermediate_size"], c["layer_norm_eps"])
                                for _ in range(c["num_hidden_layers"])])
        self.post_layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, px):
        x = self.embeddings(px)
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x)


class BertSelf(nn.Module):
    def __init__(self, d, ctx):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(ctx, d), nn.Linear(ctx, d)


class BertOut(nn.Module):
    def __init__(self, d_in, d, eps):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(d_in, d), nn.LayerNorm(d, eps=eps)


class BertAttention(nn.Module):
    def __init__(self, d, ctx, heads, eps):
        super().__init__()
        self.heads = heads
        self.self, self.output = BertSelf(d, ctx), BertOut(d, d, eps)

    def split(self, t):
        B, T, D = t.shape
        return t.view(B, T, self.heads, D // self.heads).transpose(1, 2)

    def forward(self, x, k, v, bias):
        """k, v: already split [B, heads, S, head dim]; bias broadcast to [B, 1, 1, S] or None."""
        q = self.split(self.self.query(x))
        a = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if bias is not None:
            a = a + bias
        c = (a.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
        return self.output.LayerNorm(self.output.dense(c) + x)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.attention = BertAttention(d, d, c["num_attention_heads"], eps)
        self.crossattention = BertAttention(d, c["encoder_hidden_size"], c["num_attention_heads"], eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, c["intermediate_size"])
        self.output = BertOut(c["intermediate_size"], d, eps)

    def forward(self, x, bias, image_kv):
        at = self.attention
        x = at(x, at.split(at.self.key(x)), at.split(at.self.value(x)), bias)
        if image_kv is not None:
            x = self.crossattention(x, *image_kv, None)
        h = self.output.dense(F.gelu(self.intermediate.dense(x)))
        return self.output.LayerNorm(h + x)


class TextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])


class TextEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = TextEmbeddings(c)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, ids, mask, image=None, owner=None):
        """ids, mask [N, T]; image [B, S, D] and owner [N]: text n reads image owner[n]. The
        image's keys and values are computed once per image, not once per text."""
        e = self.embeddings
        x = e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(torch.arange(ids.shape[1])))
        bias = ((1 - mask) * -10000.0)[:, None, None, :]
        for layer in self.encoder.layer:
            kv = None
            if image is not None:
                ca = layer.crossattention
                kv = (ca.split(ca.self.key(image))[owner], ca.split(ca.self.value(image))[owner])
            x = layer(x, bias, kv)
        return x


class ITM(nn.Module):
    """BlipForImageTextRetrieval's tensors: vision_model, text_encoder, itm_head, vision_proj, text_proj."""

    def __init__(self, cfg):
        super().__init__()
        t, v = cfg["text_config"], cfg["vision_config"]
        self.vision_model = Vision(v)
        self.text_encoder = TextEncoder(t)
        self.itm_head = nn.Linear(t["hidden_size"], 2)
        self.vision_proj = nn.Linear(v["hidden_size"], cfg["image_text_hidden_size"])
        self.text_proj = nn.Linear(t["hidden_size"], cfg["image_text_hidden_size"])

    def itm_logits(self, image, ids, mask, owner):
        return self.itm_head(self.text_encoder(ids, mask, image, owner)[:, 0])

    def image_feat(self, image):
        return F.normalize(self.vision_proj(image[:, 0]), dim=-1)

    def text_feat(self, ids, mask):
        return F.normalize(self.text_proj(self.text_encoder(ids, mask)[:, 0]), dim=-1)


def initial_weights(model, vision, text):
    """The model's tensors from the shapes checkpoints: the vision tower from the CLIP model
    (see clip_vision_weights), the captioning model or the VQA model; the image-grounded text
    encoder from the VQA model's question encoder (bidirectional, reading [CLS] first, as ITM
    does) or the captioning model's decoder; the heads new."""
    if vision == "clip":
        weights = clip_vision_weights()
    else:
        src = read_safetensors(os.path.join(SHAPES, "blip_" + vision, "model.safetensors"))
        weights = {k: v for k, v in src.items() if k.startswith("vision_model.")}
    if text == "caption":
        src = read_safetensors(os.path.join(SHAPES, "blip_caption", "model.safetensors"))
        weights.update({k.replace("text_decoder.bert.", "text_encoder."): v for k, v in src.items() if k.startswith("text_decoder.bert.")})
    else:
        src = read_safetensors(os.path.join(SHAPES, "blip_vqa", "model.safetensors"))
        weights.update({k: v for k, v in src.items() if k.startswith("text_encoder.")})
    state = model.state_dict()
    g = torch.Generator().manual_seed(0)
    for name in state:
        if name in weights:
            assert weights[name].shape == state[name].shape, name
            state[name] = weights[name]
        elif name.endswith("bias"):
            state[name] = torch.zeros_like(state[name])
        else:
            state[name] = torch.randn(state[name].shape, generator=g) * 0.02
    extra = set(weights) - set(state)
    assert not extra, f"unused weights: {sorted(extra)[:5]}"
    model.load_state_dict(state)


# What the auxiliary head reads off the image's class token: the background, and the colour
# and shape of the left and the right object ("none" for the right one of a lone object).
SLOTS = [("background", len(BACKGROUNDS)), ("left colour", len(COLORS)), ("left shape", len(SHAPE_NAMES)),
         ("right colour", len(COLORS) + 1), ("right shape", len(SHAPE_NAMES) + 1)]


def slot_targets(scenes):
    out = []
    for s in scenes:
        objs = objects_of(s)
        (lc, ls), right = objs[0], objs[1] if len(objs) == 2 else None
        out.append([list(BACKGROUNDS).index(s["bg"]), list(COLORS).index(lc), SHAPE_NAMES.index(ls),
                    list(COLORS).index(right[0]) if right else len(COLORS),
                    SHAPE_NAMES.index(right[1]) if right else len(SHAPE_NAMES)])
    return torch.tensor(out)


def slot_loss(head, image, targets):
    """Cross-entropy of every slot, summed, and each slot's accuracy."""
    logits, loss, acc, k = head(image[:, 0]), 0.0, [], 0
    for i, (_, n) in enumerate(SLOTS):
        part = logits[:, k:k + n]
        loss = loss + F.cross_entropy(part, targets[:, i])
        acc.append((part.argmax(1) == targets[:, i]).float().mean().item())
        k += n
    return loss, acc


def clip_vision_weights(images=256, seed=5):
    """BLIP vision tower weights from the shapes CLIP's vision tower, which sees shapes (the
    BLIP models' towers barely do). The towers differ in three places: CLIP normalises the
    embeddings (pre_layrnorm) where BLIP does not, CLIP's MLP uses quick_gelu and BLIP's gelu,
    and CLIP keeps q, k and v apart. The pre-norm is folded into the embeddings as the affine
    map it nearly is: subtracting a token's mean is linear, and the token's standard deviation
    is taken as its average over rendered scenes; fine-tuning corrects what is left."""
    src = read_safetensors(os.path.join(SHAPES, "clip", "model.safetensors"))
    p = "vision_model."
    patch_w = src[p + "embeddings.patch_embedding.weight"]  # [D, 3, k, k]
    cls = src[p + "embeddings.class_embedding"]
    pos = src[p + "embeddings.position_embedding.weight"]  # [T, D]
    gamma, beta = src[p + "pre_layrnorm.weight"], src[p + "pre_layrnorm.bias"]
    D = cls.shape[0]
    rng = random.Random(seed)
    with torch.no_grad():
        px = normalise(torch.stack([picture(sample_scene(rng), rng) for _ in range(images)]))
        tokens = F.conv2d(px, patch_w, stride=patch_w.shape[-1]).flatten(2).transpose(1, 2)
        tokens = torch.cat([cls.expand(len(px), 1, D), tokens], 1) + pos
        s = tokens.std(-1, unbiased=False).mean()
    center = torch.eye(D) - 1.0 / D  # x - mean(x)
    A = gamma.view(D, 1) * center / s  # pre_layrnorm(x) ≈ A x + beta
    out = {
        p + "embeddings.patch_embedding.weight": torch.einsum("de,eckl->dckl", A, patch_w),
        p + "embeddings.patch_embedding.bias": torch.zeros(D),
        p + "embeddings.class_embedding": (A @ cls).view(1, 1, D),
        p + "embeddings.position_embedding": (pos @ A.t() + beta).view(1, -1, D),
        p + "post_layernorm.weight": src[p + "post_layernorm.weight"],
        p + "post_layernorm.bias": src[p + "post_layernorm.bias"],
    }
    n = 0
    while f"{p}encoder.layers.{n}.layer_norm1.weight" in src:
        lp = f"{p}encoder.layers.{n}."
        for name in ["layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2"]:
            for t in ["weight", "bias"]:
                out[lp + name + "." + t] = src[lp + name + "." + t]
        for t in ["weight", "bias"]:
            out[lp + "self_attn.qkv." + t] = torch.cat([src[lp + f"self_attn.{x}_proj." + t] for x in "qkv"])
            out[lp + "self_attn.projection." + t] = src[lp + "self_attn.out_proj." + t]
        n += 1
    return out


def itm_config():
    """config.json: the VQA model's sizes (vision tower and BERT), as BlipForImageTextRetrieval."""
    cfg = json.load(open(os.path.join(SHAPES, "blip_vqa", "config.json")))
    cfg["architectures"] = ["BlipForImageTextRetrieval"]
    return cfg


def save_checkpoint(model, cfg, out):
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), model.state_dict())
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    for name in ["tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"]:
        shutil.copyfile(os.path.join(SHAPES, "blip_vqa", name), os.path.join(out, name))


# ---------------------------------------------------------------- training
class Pool:
    """Rendered scenes, each used a few times (with new texts every time) before a fresh one
    replaces it: rendering a 320x240 frame costs as much as a training step's worth of a
    scene."""

    def __init__(self, rng, size, fresh):
        self.rng, self.fresh = rng, fresh
        self.scenes = [sample_scene(rng) for _ in range(size)]
        self.px = torch.stack([picture(sc, rng) for sc in self.scenes])

    def sample(self, n):
        for _ in range(self.fresh):
            i = self.rng.randrange(len(self.scenes))
            self.scenes[i] = sample_scene(self.rng)
            self.px[i] = picture(self.scenes[i], self.rng)
        idx = [self.rng.randrange(len(self.scenes)) for _ in range(n)]
        return [self.scenes[i] for i in idx], normalise(self.px[idx])


def make_batch(rng, tok, pool, images):
    """images scenes, each with five texts: its caption, two wrong captions, a true and a
    false mention. Returns pixels, ids, mask, owner, labels and the captions (ITC)."""
    scenes, px = pool.sample(images)
    texts, owner, labels, caps = [], [], [], []
    for b, s in enumerate(scenes):
        cap = caption(objects_of(s), s["bg"])
        n1, _ = caption_negative(s, rng)
        n2, _ = caption_negative(s, rng)
        for text, label in [(cap, 1), (n1, 0), (n2, 0), (mention_positive(s, rng), 1), (mention_negative(s, rng), 0)]:
            texts.append(text)
            owner.append(b)
            labels.append(label)
        caps.append(cap)
    ids, mask = tok.batch(texts)
    return px, ids, mask, torch.tensor(owner), torch.tensor(labels), caps, scenes


def heldout(seed, n, tok):
    """The held-out scenes with their pairs: every scene's caption and one wrong caption, and
    for two-object scenes the caption with the shapes swapped (hard negatives)."""
    rng = random.Random(seed)
    scenes = [sample_scene(rng, two=(i % 3 == 2)) for i in range(n)]
    px = normalise(torch.stack([picture(s, rng) for s in scenes]))
    pairs = []  # (scene index, text, label, kind)
    for i, s in enumerate(scenes):
        pairs.append((i, caption(objects_of(s), s["bg"]), 1, "caption"))
        neg, kind = caption_negative(s, rng)
        pairs.append((i, neg, 0, kind))
        if len(s["objects"]) == 2:
            (c0, s0), (c1, s1) = objects_of(s)
            if s0 != s1:
                pairs.append((i, caption([(c0, s1), (c1, s0)], s["bg"]), 0, "hard-swap"))
        pairs.append((i, mention_positive(s, rng), 1, "mention"))
        pairs.append((i, mention_negative(s, rng), 0, "mention-neg"))
    return px, pairs


@torch.no_grad()
def evaluate(model, tok, data):
    model.eval()
    px, pairs = data
    image = model.vision_model(px)
    probs = []
    for j in range(0, len(pairs), 512):
        chunk = pairs[j:j + 512]
        ids, mask = tok.batch([p[1] for p in chunk])
        owner = torch.tensor([p[0] for p in chunk])
        probs += model.itm_logits(image, ids, mask, owner).softmax(-1)[:, 1].tolist()
    model.train()
    ok = lambda sel: sum((probs[k] >= 0.5) == (pairs[k][2] == 1) for k in sel) / max(1, len(sel))
    caps = [k for k, p in enumerate(pairs) if p[3] not in ("hard-swap", "mention", "mention-neg")]
    two = {p[0] for p in pairs if p[3] == "hard-swap"}
    swap = [k for k, p in enumerate(pairs) if p[3] == "hard-swap" or (p[3] == "caption" and p[0] in two)]
    ment = [k for k, p in enumerate(pairs) if p[3].startswith("mention")]
    return {"itm_acc": round(ok(caps), 4), "hard_swap_acc": round(ok(swap), 4), "mention_acc": round(ok(ment), 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the log, checkpoints and training state")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=48, help="scenes per step (five texts each)")
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--vision-init", choices=["clip", "caption", "vqa"], default="clip")
    ap.add_argument("--text-init", choices=["vqa", "caption"], default="vqa")
    ap.add_argument("--aux-weight", type=float, default=0.5, help="weight of the vision tower's auxiliary slot loss (training only)")
    ap.add_argument("--itc-weight", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-minutes", type=float, default=5)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--pool", type=int, default=8192, help="rendered scenes kept")
    ap.add_argument("--fresh", type=int, default=16, help="scenes rendered anew every step")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/state.pt")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "train.log"), "a")

    def log(**kv):
        kv["time"] = time.strftime("%H:%M:%S")
        line = json.dumps(kv)
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    cfg = itm_config()
    tok = Tokenizer(os.path.join(SHAPES, "blip_vqa", "tokenizer.json"))
    model = ITM(cfg)
    aux = nn.Linear(cfg["vision_config"]["hidden_size"], sum(n for _, n in SLOTS))
    heads = [p for n, p in model.named_parameters() if n.startswith(("itm_head", "vision_proj", "text_proj"))] + list(aux.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith(("itm_head", "vision_proj", "text_proj"))]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": heads, "lr": args.lr * 3}], weight_decay=0.05)
    base = [g["lr"] for g in opt.param_groups]
    state_path = os.path.join(args.out, "state.pt")
    step, cpu0, wall0, rng = 0, 0.0, 0.0, random.Random(args.seed)
    torch.manual_seed(args.seed)
    if args.resume and os.path.exists(state_path):
        st = torch.load(state_path)
        model.load_state_dict(st["model"])
        aux.load_state_dict(st["aux"])
        opt.load_state_dict(st["opt"])
        step, cpu0, wall0 = st["step"], st["cpu"], st["wall"]
        rng.setstate(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        log(event="resumed", step=step)
    else:
        initial_weights(model, args.vision_init, args.text_init)
        log(event="start", vision_init=args.vision_init, text_init=args.text_init, steps=args.steps, batch=args.batch, lr=args.lr,
            aux_weight=args.aux_weight, threads=args.threads)

    data = heldout(424242, 600, tok)
    pool = Pool(random.Random(rng.random()), args.pool, args.fresh)
    if step == 0:
        log(step=0, **evaluate(model, tok, data))
    t_wall, t_cpu = time.time(), time.process_time()
    last_save = t_wall
    warm = 150

    def save(final=False):
        torch.save({"model": model.state_dict(), "aux": aux.state_dict(), "opt": opt.state_dict(), "step": step, "rng": rng.getstate(),
                    "torch_rng": torch.get_rng_state(), "cpu": cpu0 + time.process_time() - t_cpu,
                    "wall": wall0 + time.time() - t_wall}, state_path + ".tmp")
        os.replace(state_path + ".tmp", state_path)
        save_checkpoint(model, cfg, os.path.join(args.out, "checkpoint"))

    losses, slot_accs = [], []
    while step < args.steps:
        f = min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * f
        px, ids, mask, owner, labels, caps, scenes = make_batch(rng, tok, pool, args.batch)
        image = model.vision_model(px)
        logits = model.itm_logits(image, ids, mask, owner)
        # Two positives and three negatives per scene: weigh the classes equally.
        w = torch.where(labels == 1, 1.5, 1.0)
        itm = (F.cross_entropy(logits, labels, reduction="none") * w).sum() / w.sum()
        loss = itm
        if args.itc_weight > 0:
            cids, cmask = tok.batch(caps)
            sim = model.image_feat(image) @ model.text_feat(cids, cmask).t() / 0.07
            same = torch.tensor([[a == b for b in caps] for a in caps], dtype=torch.float32)
            tgt = same / same.sum(1, keepdim=True)
            itc = (-(tgt * sim.log_softmax(1)).sum(1).mean() - (tgt * sim.t().log_softmax(1)).sum(1).mean()) / 2
            loss = loss + args.itc_weight * itc
        if args.aux_weight > 0:
            sl, slot_acc = slot_loss(aux, image, slot_targets(scenes))
            loss = loss + args.aux_weight * sl
            slot_accs.append(slot_acc)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(itm.item())
        if step % 25 == 0:
            slots = {}
            if slot_accs:
                slots = {name: round(sum(a[i] for a in slot_accs) / len(slot_accs), 3) for i, (name, _) in enumerate(SLOTS)}
            log(step=step, itm_loss=round(sum(losses) / len(losses), 4), lr=round(opt.param_groups[0]["lr"], 7),
                cpu_s=round(cpu0 + time.process_time() - t_cpu), wall_s=round(wall0 + time.time() - t_wall), slots=slots)
            losses, slot_accs = [], []
        if step % args.eval_every == 0 or step == args.steps:
            log(step=step, **evaluate(model, tok, data))
        if time.time() - last_save > args.save_minutes * 60 or step == args.steps:
            save()
            last_save = time.time()
            log(event="saved", step=step)
    log(event="done", step=step, cpu_s=round(cpu0 + time.process_time() - t_cpu), wall_s=round(wall0 + time.time() - t_wall))


if __name__ == "__main__":
    sys.exit(main())
