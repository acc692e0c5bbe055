#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures of hf's and clip's tests with real torch.save, so the
Go reader is tested against files PyTorch itself wrote, not against our idea of the format.

Needs Debian's python3-torch (apt-get install python3-torch); run from the repository root:

    /usr/bin/python3 scripts/make_pytorch_fixtures.py

Writes (torch's zip format unless said otherwise):
  hf/testdata/pytorch/dtypes.bin        the tensors of hf/testdata/dtypes.safetensors, plus
                                        views: a slice with a storage offset and two tensors
                                        sharing one storage
  hf/testdata/pytorch/sharded/          the same tensors in two shards with
                                        pytorch_model.bin.index.json, as transformers shards
  hf/testdata/pytorch/evil_system.bin   an object whose unpickling calls os.system
  hf/testdata/pytorch/noncontiguous.bin a transposed (non-contiguous) tensor
  hf/testdata/pytorch/legacy.bin        the pre-1.6 format (not zip)
  clip/testdata/shapes_pytorch/pytorch_model.bin
                                        models/shapes/clip/model.safetensors re-saved as a
                                        PyTorch state dict, tensor for tensor
"""
import collections
import json
import os
import struct

import torch

HF = "hf/testdata/pytorch"


def read_safetensors(path):
    """Reads a safetensors file with struct and torch.frombuffer (no safetensors package)."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
              "U8": torch.uint8, "BOOL": torch.bool}
    out = collections.OrderedDict()
    for name, e in header.items():  # header order: json keeps the file's order
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        t = torch.frombuffer(raw, dtype=dtypes[e["dtype"]]) if raw else torch.empty(0, dtype=dtypes[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


class Evil:
    def __reduce__(self):
        return (os.system, ("echo edged-pickle-test-ran-code > /tmp/edged-pickle-test",))


def main():
    os.makedirs(HF + "/sharded", exist_ok=True)
    tensors = read_safetensors("hf/testdata/dtypes.safetensors")
    base = torch.arange(10, dtype=torch.float32) * 0.5 - 2.0  # -2.0, -1.5, ..., 2.5
    state = collections.OrderedDict(tensors)
    state["view_offset"] = base[4:].view(2, 3)  # storage offset 4 into a 10-element storage
    state["shared_a"] = base.view(2, 5)  # the same storage as view_offset
    # nn.Module.state_dict() sets _metadata (module versions): pickled with BUILD.
    state._metadata = collections.OrderedDict([("", {"version": 1}), ("encoder", {"version": 1})])
    torch.save(state, HF + "/dtypes.bin")

    names = list(tensors)
    half = len(names) // 2
    index = {"metadata": {"total_size": 0}, "weight_map": {}}
    for i, part in enumerate([names[:half], names[half:]]):
        shard = "pytorch_model-%05d-of-00002.bin" % (i + 1)
        torch.save(collections.OrderedDict((k, tensors[k]) for k in part), HF + "/sharded/" + shard)
        for k in part:
            index["weight_map"][k] = shard
            index["metadata"]["total_size"] += tensors[k].numel() * tensors[k].element_size()
    with open(HF + "/sharded/pytorch_model.bin.index.json", "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")

    torch.save(collections.OrderedDict(w=Evil()), HF + "/evil_system.bin")
    torch.save(collections.OrderedDict(w=torch.arange(6, dtype=torch.float32).view(2, 3).t()), HF + "/noncontiguous.bin")
    torch.save(collections.OrderedDict(w=torch.ones(2)), HF + "/legacy.bin", _use_new_zipfile_serialization=False)

    os.makedirs("clip/testdata/shapes_pytorch", exist_ok=True)
    clip = read_safetensors("models/shapes/clip/model.safetensors")
    clip._metadata = collections.OrderedDict([("", {"version": 1})])
    torch.save(clip, "clip/testdata/shapes_pytorch/pytorch_model.bin")


if __name__ == "__main__":
    main()
