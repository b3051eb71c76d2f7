"""``python -m kqbench.verify``: a real sweep verifies clean; every kind of tampering is reported."""

import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pandas as pd
import png
import pytest
from PIL import Image

from kqbench.verify import PNGError, main, read_png

ENCODINGS = "rgb24,labels,png8_pypng,png8_pillow"


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A real small sweep, as a user types it; k=1 adds failed PNG-8 rows (skipped by verify)."""
    tmp = tmp_path_factory.mktemp("verify")
    results = tmp / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "kqbench", "k=4,1", "quantizer=sampled", f"encoding={ENCODINGS}",
         "dataset=synthetic", "dataset.width=48", "dataset.height=32", f"results_dir={results}"],
        cwd=tmp, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (results / "latest").resolve()


@pytest.fixture
def copy(sweep_dir, tmp_path):
    """A private copy of the sweep to tamper with."""
    dst = tmp_path / "sweep"
    shutil.copytree(sweep_dir, dst)
    return dst


def table(d):
    return pd.read_parquet(d / "results.parquet")


def run_verify(d, capsys, *args):
    code = main([str(d), *args])
    return code, capsys.readouterr().out


def the_row(df, image, encoding, k=4):
    rows = df[(df["image"] == image) & (df["encoding"] == encoding) & (df["k"] == k)]
    assert len(rows) == 1
    return rows.index[0], rows.iloc[0]


def test_clean_sweep_verifies_from_the_command_line(sweep_dir):
    proc = subprocess.run([sys.executable, "-m", "kqbench.verify", str(sweep_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = table(sweep_dir)
    ok = int(((df["status"] == "ok") & df["path"].notna()).sum())
    assert f"{ok} rows checked, 0 mismatches" in proc.stdout
    assert f"{len(df) - ok} rows skipped" in proc.stdout  # k=1 with PNG-8: failed rows
    assert "label-image rows" in proc.stdout and "not" in proc.stdout  # says the labels MSE is not recomputed
    assert "MISMATCH" not in proc.stdout


def test_every_decoder_agrees(sweep_dir, capsys):
    for decoder in ("pypng", "numpy"):
        code, out = run_verify(sweep_dir, capsys, "--decoder", decoder)
        assert code == 0, out
    for f in sorted(sweep_dir.glob("*/files/*.png")):
        assert np.array_equal(read_png(f, "numpy").samples, read_png(f, "pypng").samples), f


def test_resaved_with_another_palette_colour(copy, capsys):
    idx, row = the_row(table(copy), "flat", "png8_pillow")
    path = copy / row["path"]
    with Image.open(path) as im:
        im.load()
    pal = im.getpalette()
    pal[:3] = [(v + 128) % 256 for v in pal[:3]]
    im.putpalette(pal)
    im.save(path)
    code, out = run_verify(copy, capsys)
    assert code != 0
    lines = [line for line in out.splitlines() if row["path"] in line]
    assert any("mse=" in line for line in lines), out
    assert any("other pixels" in line for line in lines), out
    assert "0 mismatches" not in out


def test_truncated_file(copy, capsys):
    _, row = the_row(table(copy), "gradient", "rgb24")
    path, size = copy / row["path"], int(row["bytes"])
    path.write_bytes(path.read_bytes()[: size // 2])
    code, out = run_verify(copy, capsys)
    assert code == 1
    lines = [line for line in out.splitlines() if row["path"] in line]
    assert any("does not decode" in line and "truncated" in line for line in lines), out
    assert any(f"bytes={size} in the table, {size // 2} on disk" in line for line in lines), out


def test_missing_file(copy, capsys):
    _, row = the_row(table(copy), "noise", "labels")
    (copy / row["path"]).unlink()
    code, out = run_verify(copy, capsys)
    assert code == 1 and "file missing" in out and row["path"] in out


@pytest.mark.parametrize("column, factor, message", [
    ("bytes", 1.5, "in the table"), ("mse", 1 + 1e-7, "mse="), ("psnr", 1 + 1e-7, "psnr="),
    # every quality column of the registry is recomputed from the file, not only MSE
    ("delta_e2000", 1 + 1e-7, "delta_e2000="), ("max_error", 2, "max_error=")])
def test_edited_table_value(copy, capsys, column, factor, message):
    df = table(copy)
    idx, row = the_row(df, "noise", "png8_pypng")
    df.loc[idx, column] = df.loc[idx, column] * factor
    df.to_parquet(copy / "results.parquet", index=False)
    code, out = run_verify(copy, capsys)
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith("MISMATCH")]
    assert len(lines) == 1, out
    assert row["path"] in lines[0] and f"{column}=" in lines[0] and message in lines[0]
    assert "1 mismatches" in out


def test_edited_labels_mse(copy, capsys):
    df = table(copy)
    idx, row = the_row(df, "flat", "labels")
    df.loc[idx, "mse"] = df.loc[idx, "mse"] * 2 + 1
    df.to_parquet(copy / "results.parquet", index=False)
    code, out = run_verify(copy, capsys)
    assert code == 1 and "same quantization" in out and row["path"] in out


@pytest.mark.parametrize("make", ["no dir", "no table"])
def test_missing_dir_or_table_is_a_one_line_error(tmp_path, capsys, make):
    d = tmp_path / "nothing" if make == "no dir" else tmp_path
    code = main([str(d)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(d) in err


# --- the numpy decoder against pypng, on files with every filter type, depth and colour type --------------


def _filter_rows(raw: np.ndarray, bpp: int, types) -> bytes:
    """PNG-filter each row of ``raw`` (h, row_bytes) with the given filter types (a plain reference encoder)."""
    out = bytearray()
    prev = np.zeros(raw.shape[1], np.int64)
    for y, row in enumerate(raw.astype(np.int64)):
        t = types[y % len(types)]
        left = np.concatenate([np.zeros(bpp, np.int64), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int64), prev[:-bpp]])
        if t == 0:
            pred = np.zeros_like(row)
        elif t == 1:
            pred = left
        elif t == 2:
            pred = prev
        elif t == 3:
            pred = (left + prev) // 2
        else:
            pa, pb, pc = np.abs(prev - upleft), np.abs(left - upleft), np.abs(left + prev - 2 * upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        out.append(t)
        out += ((row - pred) % 256).astype(np.uint8).tobytes()
        prev = row
    return bytes(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width, height, bit_depth, colour_type, raw, bpp, types, palette=None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr)
    if palette is not None:
        body += _chunk(b"PLTE", palette.tobytes())
    return b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IDAT", zlib.compress(_filter_rows(raw, bpp, types))) + \
        _chunk(b"IEND", b"")


@pytest.mark.parametrize("types", [[0], [1], [2], [3], [4], [4, 1, 3, 0, 2, 4, 3]])
@pytest.mark.parametrize("shape, channels, colour_type", [((7, 9), 3, 2), ((5, 1), 1, 0), ((1, 6), 4, 6),
                                                           ((6, 5), 2, 4)])
def test_numpy_decoder_undoes_every_filter(tmp_path, types, shape, channels, colour_type):
    rng = np.random.default_rng(len(types) * 10 + colour_type)
    pixels = rng.integers(0, 256, size=(*shape, channels), dtype=np.uint8)
    f = tmp_path / "f.png"
    f.write_bytes(_png(shape[1], shape[0], 8, colour_type, pixels.reshape(shape[0], -1), channels, types))
    ours = read_png(f, "numpy")
    assert np.array_equal(ours.samples, pixels)
    assert np.array_equal(read_png(f, "pypng").samples, pixels)


@pytest.mark.parametrize("bitdepth", [1, 2, 4, 8])
def test_numpy_decoder_palette_and_grey_depths(tmp_path, bitdepth):
    rng = np.random.default_rng(bitdepth)
    values = rng.integers(0, 1 << bitdepth, size=(5, 11))
    palette = [tuple(int(v) for v in c) for c in rng.integers(0, 256, size=(1 << bitdepth, 3))]
    png.Writer(11, 5, palette=palette, bitdepth=bitdepth).write(open(tmp_path / "p.png", "wb"), values.tolist())
    png.Writer(11, 5, greyscale=True, bitdepth=bitdepth).write(open(tmp_path / "g.png", "wb"), values.tolist())
    for name in ("p.png", "g.png"):
        ours = read_png(tmp_path / name, "numpy")
        assert np.array_equal(ours.samples[..., 0], values)
        assert np.array_equal(read_png(tmp_path / name, "pypng").samples[..., 0], values)
    assert np.array_equal(read_png(tmp_path / "p.png").rgb(), np.array(palette, np.uint8)[values])


def test_numpy_decoder_16_bit(tmp_path):
    values = np.random.default_rng(0).integers(0, 65536, size=(4, 6))
    png.Writer(6, 4, greyscale=True, bitdepth=16).write(open(tmp_path / "g.png", "wb"), values.tolist())
    assert np.array_equal(read_png(tmp_path / "g.png", "numpy").samples[..., 0], values)


@pytest.mark.parametrize("damage", ["crc", "no iend", "signature", "short idat"])
def test_malformed_png_is_a_decode_error(tmp_path, damage):
    good = _png(4, 3, 8, 2, np.zeros((3, 12), np.uint8), 3, [0])
    if damage == "crc":
        blob = good[:20] + bytes([good[20] ^ 1]) + good[21:]
    elif damage == "no iend":
        blob = good[:-12]
    elif damage == "signature":
        blob = b"GIF89a" + good[6:]
    else:
        ihdr = struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)
        blob = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 20))
                + _chunk(b"IEND", b""))
    (tmp_path / "bad.png").write_bytes(blob)
    with pytest.raises(PNGError):
        read_png(tmp_path / "bad.png", "numpy")
