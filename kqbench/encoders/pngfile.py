"""Read a PNG's structure (chunks, header) straight from its bytes, independently of any encoder."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

COLOUR_TYPES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


@dataclass(frozen=True)
class Chunk:
    type: str
    length: int  # data bytes, without the 12 bytes of length, type and CRC
    data: bytes


def read_chunks(path) -> list[Chunk]:
    """All chunks of the PNG at ``path``; ValueError if it is not a well-formed PNG."""
    blob = Path(path).read_bytes()
    if not blob.startswith(PNG_SIGNATURE):
        raise ValueError(f"{path}: not a PNG file (bad signature)")
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(blob):
        if pos + 8 > len(blob):
            raise ValueError(f"{path}: truncated PNG (chunk header cut at byte {pos})")
        length, ctype = struct.unpack(">I4s", blob[pos:pos + 8])
        end = pos + 12 + length
        if end > len(blob):
            raise ValueError(f"{path}: truncated PNG ({ctype.decode('latin-1')} chunk cut short)")
        data = blob[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", blob[end - 4:end])
        if zlib.crc32(ctype + data) != crc:
            raise ValueError(f"{path}: corrupt PNG (CRC mismatch in {ctype.decode('latin-1')} chunk)")
        chunks.append(Chunk(ctype.decode("latin-1"), length, data))
        pos = end
        if ctype == b"IEND":
            break
    if not chunks or chunks[0].type != "IHDR":
        raise ValueError(f"{path}: PNG without an IHDR chunk")
    return chunks


def png_header(path) -> dict:
    """Width, height, bit depth and colour type from the IHDR chunk; tRNS data length (0: none)."""
    chunks = read_chunks(path)
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", chunks[0].data[:10])
    return {
        "width": width,
        "height": height,
        "bit_depth": bit_depth,
        "colour_type": COLOUR_TYPES.get(colour_type, str(colour_type)),
        "trns_bytes": sum(c.length for c in chunks if c.type == "tRNS"),
    }
