import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from sklearn.datasets import load_sample_image

from kqbench.encoders import png_header, read_chunks
from kqbench.explain import explain, format_report, main
from kqbench.metrics import mse, psnr

KS = (16, 64, 256)


def rgb_of(path) -> np.ndarray:
    """The file's pixels: RGB, or RGBA when it has transparency (what explain compares)."""
    with Image.open(path) as im:
        alpha = im.mode == "RGBA" or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if alpha else "RGB"))


def words(report: str) -> str:
    """The report with line wrapping undone."""
    return " ".join(report.split())


def n_colours(rgb) -> int:
    return len(np.unique(rgb.reshape(-1, rgb.shape[-1]), axis=0))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """64x48 crops of a real photo as a 40-colour palette PNG, RGB PNG, RGBA PNG (+ tEXt) and JPEG."""
    folder = tmp_path_factory.mktemp("explain")
    crop = load_sample_image("china.jpg")[100:148, 200:264]
    paths = {name: folder / name for name in ("palette.png", "rgb.png", "rgba.png", "photo.jpg")}
    Image.fromarray(crop).quantize(40).save(paths["palette.png"])
    Image.fromarray(crop).save(paths["rgb.png"])
    alpha = np.full(crop.shape[:2], 255, np.uint8)
    alpha[:, :20] = 0
    alpha[:5, 20:30] = 128  # 48*20 + 5*10 = 1010 pixels not fully opaque
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "kqbench " * 500)
    Image.fromarray(np.dstack([crop, alpha]), "RGBA").save(paths["rgba.png"], pnginfo=text)
    Image.fromarray(crop).save(paths["photo.jpg"], quality=90)
    return paths


@pytest.fixture(scope="module")
def explained(files, tmp_path_factory):
    """explain() of every file, its written files kept for checking."""
    out = tmp_path_factory.mktemp("written")
    return {name: (path, out / name, explain(path, ks=KS, out_dir=out / name)) for name, path in files.items()}


@pytest.mark.parametrize("name, fmt, colour_type, bit_depth", [
    ("palette.png", "PNG", "palette", 8),
    ("rgb.png", "PNG", "RGB", 8),
    ("rgba.png", "PNG", "RGBA", 8),
    ("photo.jpg", "JPEG", "RGB", 8),
])
def test_describes_the_file(explained, name, fmt, colour_type, bit_depth):
    path, _, d = explained[name]
    rgb = rgb_of(path)
    assert (d["format"], d["colour_type"], d["bit_depth"]) == (fmt, colour_type, bit_depth)
    assert (d["width"], d["height"], d["pixels"]) == (64, 48, 64 * 48)
    assert d["unique_colours"] == n_colours(rgb)
    assert d["file_bytes"] == path.stat().st_size
    assert d["bits_per_pixel"] == pytest.approx(8 * path.stat().st_size / (64 * 48))
    assert d["lossy"] is (fmt == "JPEG")
    assert (d["png"] is None) is (fmt != "PNG")


@pytest.mark.parametrize("name", ["palette.png", "rgb.png", "rgba.png"])
def test_png_chunk_groups_add_up_to_the_file(explained, name):
    path, _, d = explained[name]
    groups = d["png"]["chunks"]
    assert sum(groups.values()) == path.stat().st_size
    idat = [c for c in read_chunks(path) if c.type == "IDAT"]
    assert groups["IDAT"] == sum(c.length + 12 for c in idat)
    assert d["png"]["idat_data_bytes"] == sum(c.length for c in idat)
    assert groups["overhead"] == 8 + 25 + 12  # signature, IHDR, IEND
    channels = {"palette": 1, "RGB": 3, "RGBA": 4}[d["colour_type"]]
    assert d["png"]["raw_bytes"] == 48 * 64 * channels


def test_palette_png(explained):
    path, _, d = explained["palette.png"]
    assert d["png"]["chunks"]["PLTE"] == 12 + 3 * 40
    assert d["palette_entries"] == 40 and d["palette_used"] == 40 and d["unique_colours"] == 40
    # k=64 and 256 are not below the 40 colours: skipped; k=16 is measured.
    assert [s["k"] for s in d["skipped"]] == [64, 256]
    assert [e["k"] for e in d["estimates"] if e["kind"] == "png8"] == [16]
    assert "already a palette image" in words(format_report(d))


def test_metadata_and_alpha(explained):
    path, _, d = explained["rgba.png"]
    assert d["png"]["metadata_chunks"] == {"tEXt": 12 + len("Comment") + 1 + len("kqbench " * 500)}
    assert d["has_alpha"] and d["translucent_pixels"] == 1010
    report = words(format_report(d))
    assert "tEXt" in report and "every estimate keeps it" in report
    png8 = [e for e in d["estimates"] if e["kind"] == "png8"]
    assert png8 and all(0 < e["trns_bytes"] <= e["colours"] for e in png8)


def test_lossless_png8_decodes_back_exactly(explained):
    path, out, d = explained["palette.png"]
    (lossless,) = [e for e in d["estimates"] if e["kind"] == "png8-lossless"]
    written = out / lossless["file"]
    assert np.array_equal(rgb_of(written), rgb_of(path))
    assert png_header(written)["colour_type"] == "palette"
    assert lossless["colours"] == 40 and math.isinf(lossless["psnr"])


@pytest.mark.parametrize("name", ["palette.png", "rgb.png", "rgba.png", "photo.jpg"])
def test_estimates_are_the_written_files(explained, name):
    path, out, d = explained[name]
    source = rgb_of(path)
    kinds = [e["kind"] for e in d["estimates"]]
    assert kinds.count("rgb24") == 1 and ("png8-lossless" in kinds) == (d["unique_colours"] <= 256)
    for e in d["estimates"]:
        written = out / e["file"]
        assert e["bytes"] == written.stat().st_size
        assert e["ratio_to_input"] == pytest.approx(written.stat().st_size / path.stat().st_size)
        assert e["psnr"] == pytest.approx(psnr(mse(source, rgb_of(written))))
        assert e["roundtrip_ok"]
        header = png_header(written)
        truecolour = "RGBA" if d["translucent_pixels"] else "RGB"
        assert header["colour_type"] == (truecolour if e["kind"] == "rgb24" else "palette")
        if e["kind"] == "png8":
            assert e["colours"] <= e["k"] and n_colours(rgb_of(written)) == e["colours"]
            assert e["plte_bytes"] == 3 * e["colours"]
            if e["rgb24_bytes"] is not None:  # written for the recommended estimate and k=64 (or the middle k)
                assert e["rgb24_bytes"] == (out / f"rgb24-k{e['k']}.png").stat().st_size
            from kqbench.explain import _reference
            assert (e["rgb24_bytes"] is not None) == (e is d["recommended"] or e is _reference(d["estimates"]))
    if d["unique_colours"] > 256:  # a photo crop: every k below its colour count is measured
        assert [e["k"] for e in d["estimates"] if e["kind"] == "png8"] == list(KS)


def test_jpeg_is_explained_as_lossy(explained):
    _, _, d = explained["photo.jpg"]
    rgb24 = next(e for e in d["estimates"] if e["kind"] == "rgb24")
    assert rgb24["bytes"] > d["file_bytes"]
    report = words(format_report(d))
    assert "JPEG is lossy" in report and f"{rgb24['ratio_to_input']:.1f}x the JPEG" in report


def test_images_with_transparency_fit_kmeans_on_a_sample(files):
    d = explain(files["rgba.png"], ks=(16,), sample_size=1000)
    assert d["sampled"] == 1000
    assert "random sample of 1,000 of the 3,072 pixels" in words(format_report(d))
    # opaque images: kqbench's fast k-means on every pixel, no sample
    d = explain(files["rgb.png"], ks=(16,), sample_size=1000)
    assert d["sampled"] is None and "fast k-means" in d["quantizer"]


def run_cli(*args):
    """``python -m kqbench explain ARGS``: through the one command line, as a user types it."""
    return subprocess.run([sys.executable, "-m", "kqbench", "explain", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, expected", [
    ("palette.png", ["PNG, palette", "64 x 48 = 3,072 pixels", "unique colours   40", "IDAT (1 chunk)", "PLTE",
                     "40 entries, 40 used", "PNG-8, its 40 colours (lossless)", "k=64: skipped", "Why:"]),
    ("photo.jpg", ["JPEG (lossy)", "file size", "24-bit RGB PNG (lossless)", "PNG-8, k=256 (k-means)", "Why:"]),
])
def test_main_prints_the_report(files, capsys, name, expected):
    assert main([str(files[name]), "--k", *map(str, KS)]) == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out


@pytest.fixture(scope="module")
def bad_files(files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty.png").write_bytes(b"")
    (folder / "x.png").write_text("not an image\n")
    blob = files["rgb.png"].read_bytes()
    (folder / "truncated.png").write_bytes(blob[: len(blob) // 2])
    (folder / "no-iend.png").write_bytes(blob[:-12])
    return folder


def test_cli_bad_file_exits_2_with_one_line(bad_files):
    result = run_cli(bad_files / "x.png")
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "x.png" in lines[0] and "cannot read it as an image" in lines[0]


# The same checks in-process (a subprocess per case would cost seconds of imports each): an
# exception escaping main() would fail these tests, so no traceback can reach the command line.
@pytest.mark.parametrize("name, words", [
    ("empty.png", "empty"), ("x.png", "cannot read it as an image"), ("truncated.png", "truncated PNG"),
    ("missing.png", "no such file"), ("no-iend.png", "no IEND"), (".", "not a file"),
])
def test_main_bad_file_exits_2_with_one_line(bad_files, capsys, name, words):
    assert main([str(bad_files / name)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert str(bad_files / name) in err and words in err and "Traceback" not in err


def test_main_rejects_k_outside_png8(files, capsys):
    assert main([str(files["rgb.png"]), "--k", "300"]) == 2
    assert "2..256" in capsys.readouterr().err


# --- the verdict, the fix and --write (issue 11) ----------------------------------------------------------

def kb(n_bytes) -> str:
    """KB as every kqbench report prints them: 1 KB = 1000 bytes."""
    return f"{n_bytes / 1000:.1f} KB"


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """A 24-bit RGB PNG holding 64 colours (the question's mistake), a label map (the labels of the same
    quantization saved as a grey image, values 0-63) and a photo as JPEG."""
    folder = tmp_path_factory.mktemp("cases")
    photo = load_sample_image("china.jpg")[:200, :300]
    quantized = Image.fromarray(photo).quantize(64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    labels = np.asarray(quantized)
    assert len(np.unique(labels)) == 64
    paths = {name: folder / name for name in ("rgb64.png", "labels.png", "photo.jpg")}
    quantized.convert("RGB").save(paths["rgb64.png"])
    Image.fromarray(labels.astype(np.uint8)).save(paths["labels.png"])  # what io.imsave(labels) writes
    Image.fromarray(photo).save(paths["photo.jpg"], quality=90)
    return paths


def test_report_leads_with_the_verdict_and_prints_the_fix(cases):
    d = explain(cases["rgb64.png"], ks=KS)
    report = format_report(d)
    first = report.splitlines()[0]
    assert first.startswith("rgb64.png: a 24-bit RGB PNG") and "64 colours" in first
    verdict = words(report.split("\n\n")[0])
    rec = d["recommended"]
    assert rec["kind"] == "png8-lossless" and math.isinf(rec["psnr"])
    assert "only 64 colours, so a PNG-8 holds this image exactly (lossless)" in verdict
    assert kb(rec["bytes"]) in verdict and kb(d["file_bytes"] - rec["bytes"]) + " smaller" in verdict
    assert "im.putpalette(" in report and "png.Writer(" in report  # the snippet
    assert report.index("Verdict") < report.index("putpalette") < report.index("The same pixels written as")


def test_kb_are_1000_bytes_everywhere(explained):
    _, _, d = explained["photo.jpg"]
    report = format_report(d)
    for e in d["estimates"]:
        assert f"{e['bytes'] / 1000:>9.1f}" in report
    assert "1024" not in report and "KiB" not in report
    from kqbench.explain import _kb
    assert _kb(123_456) == "123.5 KB" and _kb(2_500_000) == "2.50 MB" and _kb(9_999) == "9,999 bytes"


def test_a_label_map_is_recognised_and_not_given_a_psnr(cases):
    d = explain(cases["labels.png"], ks=KS)
    assert d["label_map"] == {"values": 64, "max": 63}
    assert [e["kind"] for e in d["estimates"]] == ["png8-lossless"]  # no RGB, no re-quantizing of indices
    assert [s["k"] for s in d["skipped"]] == list(KS)
    report = format_report(d)
    verdict = words(report.split("\n\n")[0])
    assert "holds palette indices, not colours: a label map (grey values 0-63, 64 of them used)" in verdict
    assert "PSNR against it would mean nothing" in verdict
    table = report[report.index("The same pixels written as"):report.index("Why:")].splitlines()
    assert "no PSNR" in table[0]
    assert not any("inf" in line or line.rstrip().endswith(("0", "dB")) for line in table[2:]), table


def test_a_grey_photo_is_not_a_label_map():
    from kqbench.explain import label_map
    grey = lambda values: np.repeat(np.asarray(values, np.uint8)[:, None], 3, axis=1)  # noqa: E731
    assert label_map(grey(range(64))) == {"values": 64, "max": 63}
    assert label_map(grey(range(256))) is None  # every level used: a grey photo as likely
    assert label_map(grey(range(10, 200))) is None  # does not start at black
    assert label_map(grey(range(0, 200, 3))) is None  # gaps: levels of a photo
    assert label_map(np.array([[0, 0, 0], [1, 2, 3]], np.uint8)) is None  # not grey


@pytest.mark.parametrize("name", ["rgb64.png", "photo.jpg", "labels.png"])
def test_write_writes_the_recommended_file(cases, tmp_path, capsys, name):
    out = tmp_path / "fixed.png"
    assert main([str(cases[name]), "--write", str(out), "--min-psnr", "30"]) == 0
    printed = capsys.readouterr().out
    source = rgb_of(cases[name])
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "P"  # a palette PNG
        decoded = np.asarray(im.convert("RGB"))
    written = out.stat().st_size
    assert f"Wrote {out}: {kb(written)}" in printed
    if name == "photo.jpg":  # quantized: the smallest PNG-8 reaching 30 dB, and it does reach it
        quality = psnr(mse(source, decoded))
        assert quality >= 30
        d = explain(cases[name], ks=KS)
        reaching = [e for e in d["estimates"] if e["kind"] == "png8" and e["psnr"] >= 30]
        assert written == min(e["bytes"] for e in reaching)
        assert f"PSNR {quality:.1f} dB" in printed
    else:  # 64 colours or 64 indices: lossless
        assert np.array_equal(decoded, source)


def test_jpeg_verdict(cases):
    d = explain(cases["photo.jpg"], ks=KS, min_psnr=30)
    verdict = words(format_report(d).split("\n\n")[0])
    rec, rgb24 = d["recommended"], next(e for e in d["estimates"] if e["kind"] == "rgb24")
    assert verdict.startswith("photo.jpg: a JPEG (lossy)")
    assert "JPEG is lossy and already compact" in verdict
    assert f"the smallest PNG-8 reaching PSNR >= 30 dB is k={rec['k']}: {kb(rec['bytes'])}" in verdict
    assert f"weigh {kb(rgb24['bytes'])}" in verdict
    assert f"would weigh {kb(rec['rgb24_bytes'])}" in verdict


def test_no_k_reaching_the_threshold_says_so(cases):
    d = explain(cases["photo.jpg"], ks=(4,), min_psnr=60)
    assert d["recommended"]["k"] == 4
    assert "no k here reaches PSNR 60 dB" in words(format_report(d))


def test_progress_is_said_only_for_slow_steps():
    import io
    from kqbench.explain import Progress
    stream = io.StringIO()
    p = Progress(stream, after=0.05)
    p.step("quick")
    p.step("slow")
    import time
    time.sleep(0.3)
    p.done()
    assert "quick" not in stream.getvalue() and "kqbench explain: slow..." in stream.getvalue()
