"""Makes the generated fixtures of hf's tests with Python's struct module: a writer that
shares no code with hf. Run from this folder: python3 make_testdata.py /path/to/shared/golden"""
import gzip, json, struct, sys

golden = sys.argv[1]

# dtypes.safetensors: one tensor of each convertible dtype with values known exactly.
tensors = [  # name, dtype, shape, struct format, values
    ("f16", "F16", [2, 3], "<6e", [1.0, -2.0, 65504.0, 2.0**-24, 0.333251953125, -0.0]),
    ("bf16", "BF16", [4], None, [0x3F80, 0x4049, 0xC2F7, 0x0001]),  # raw bits
    ("f64", "F64", [2], "<2d", [0.1, -1e300]),
    ("f32_scalar", "F32", [], "<f", [2.6592]),
    ("empty", "F32", [0, 4], "<0f", []),
    ("i64", "I64", [3], "<3q", [-1, 2**40, 49407]),
    ("i32", "I32", [2], "<2i", [-7, 2**31 - 1]),
    ("i16", "I16", [2], "<2h", [-300, 300]),
    ("i8", "I8", [2], "<2b", [-128, 127]),
    ("u8", "U8", [2], "<2B", [0, 255]),
    ("mask", "BOOL", [3], "<3B", [1, 0, 1]),
]
header, data = {"__metadata__": {"format": "pt", "note": "hf test fixture"}}, b""
for name, dtype, shape, fmt, values in tensors:
    raw = struct.pack("<4H", *values) if dtype == "BF16" else struct.pack(fmt, *values)
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
js = json.dumps(header).encode()
open("dtypes.safetensors", "wb").write(struct.pack("<Q", len(js)) + js + data)

# clip_tiny/model.safetensors.gz: the header transformers wrote for the tiny CLIPModel, with
# every data byte zeroed so that it compresses to almost nothing; the tests check names,
# shapes and offsets against config.json (the values are tested through io.safetensors).
src = open(golden + "/clip_tiny/model.safetensors", "rb").read()
n = struct.unpack("<Q", src[:8])[0]
with gzip.GzipFile("clip_tiny/model.safetensors.gz", "wb", mtime=0) as f:
    f.write(src[:8 + n] + bytes(len(src) - 8 - n))
