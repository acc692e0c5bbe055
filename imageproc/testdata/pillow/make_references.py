"""Writes Pillow's own resizes of two test pictures, the reference for imageproc's PIL backend.

Run by hand from imageproc/testdata with Debian's Pillow (apt-get install python3-pil):
    /usr/bin/python3 pillow/make_references.py
Each output is pillow/<source>_<filter>_<width>x<height>.png, made by Image.resize(size, filter)
on the RGB picture, as transformers' PIL backend calls it.
"""
import os
import PIL
from PIL import Image

SOURCES = {"image_200x300": "image_200x300.png", "scene_06": "scenes/scene_06.png"}
FILTERS = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
           "box": Image.BOX, "hamming": Image.HAMMING}
# Shrinks by various factors (antialiasing), an enlargement, one axis only, odd sizes.
SIZES = [(64, 96), (37, 23), (150, 300), (200, 101), (257, 331)]

here = os.path.dirname(os.path.abspath(__file__))
for name, path in SOURCES.items():
    img = Image.open(os.path.join(here, "..", path)).convert("RGB")
    for fname, f in FILTERS.items():
        for w, h in SIZES:
            img.resize((w, h), f).save(os.path.join(here, f"{name}_{fname}_{w}x{h}.png"))
with open(os.path.join(here, "VERSION"), "w") as out:
    out.write(f"Pillow {PIL.__version__}\n")
