"""The fix, as code: write a quantized image (palette indices + palette) as a palette PNG (PNG-8).

One text for the report's answer block and for ``kqbench explain``, so that both print the same
runnable snippet (a test runs it). Plain strings: importing this module costs nothing.
"""

from __future__ import annotations

# labels: (h, w) integer array of palette indices, e.g. KMeans(...).fit(pixels).labels_.reshape(h, w);
# palette: (k, 3) colours 0-255, e.g. its cluster_centers_ (RGBA images: (k, 4), see ALPHA_LINE).
PILLOW = '''\
import numpy as np
from PIL import Image
im = Image.fromarray(labels.astype(np.uint8))  # labels: (h, w) palette indices, one byte per pixel
im.putpalette(palette.round().astype(np.uint8).tobytes(){rawmode})  # palette: {shape} colours, e.g. KMeans' cluster_centers_
im.save("out.png")  # a palette PNG (PNG-8), not a 24-bit RGB one'''

PYPNG = '''\
import png  # or with pypng
with open("out.png", "wb") as f:
    png.Writer(labels.shape[1], labels.shape[0], palette=palette.round().astype(np.uint8).tolist(), bitdepth=8).write_array(f, labels.astype(np.uint8).ravel())'''


def fix(alpha: bool = False) -> str:
    """The snippet (Pillow's ``putpalette``, then pypng), without Markdown fences.

    ``alpha``: the palette has an alpha column ((k, 4) RGBA), written as the PNG's tRNS chunk.
    """
    pillow = PILLOW.format(rawmode=', "RGBA"' if alpha else "", shape="(k, 4) RGBA" if alpha else "(k, 3)")
    return pillow + "\n" + PYPNG


def markdown(alpha: bool = False) -> str:
    """:func:`fix` in a fenced Python block."""
    return "```python\n" + fix(alpha) + "\n```"
