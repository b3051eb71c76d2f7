"""Real sweeps: in-process through the entry point, and as a subprocess where the command line is under test."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from importlib import resources

from omegaconf import OmegaConf

from sweeps import QUIET, run

# The default sweep's axes, as the packaged config defines them.
_DEFAULT = OmegaConf.load(str(resources.files("kqbench.conf") / "config.yaml")).hydra.sweeper.params
ENCODINGS = len(_DEFAULT.encoding.split(","))
QUANTIZERS = len(_DEFAULT.quantizer.split(","))


def sweep(tmp_path, *overrides, cwd=None, cli=False):
    """Run kqbench with OVERRIDES from another folder; return (table, sweep dir, output)."""
    return run(tmp_path, *overrides, cwd=cwd, cli=cli)


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory, image_folder):
    tmp = tmp_path_factory.mktemp("sweep")
    return sweep(tmp, "k=4,16", "dataset=folder", f"dataset.path={image_folder}", *QUIET)


def test_one_row_per_image_k_quantizer_encoding(small_sweep, image_folder):
    df, _, _ = small_sweep
    n_images = len(list(image_folder.iterdir()))
    assert len(df) == n_images * 2 * QUANTIZERS * ENCODINGS
    assert not df.duplicated(["image", "k", "quantizer", "encoding", "seed"]).any()
    for col in ["image", "width", "height", "pixels", "original_mode", "original_bytes", "unique_colours", "k",
                "palette_size", "quantizer", "encoding", "seed", "bytes", "bits_per_pixel", "ratio_to_original",
                "ratio_to_rgb24", "mse", "psnr", "fit_s", "assign_s", "encode_s", "repeats", "roundtrip_ok",
                "status", "error", "path", "quantizer.n_init", "encoding.compress_level"]:
        assert col in df.columns, col


def test_every_row_round_trips_and_bytes_are_the_files_size(small_sweep):
    df, sweep_dir, _ = small_sweep
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", "error"].unique()
    assert df["roundtrip_ok"].all()
    on_disk = df["path"].map(lambda p: (sweep_dir / p).stat().st_size)
    assert (on_disk == df["bytes"]).all()
    assert (df["palette_size"] <= df["k"]).all()


def test_png8_smaller_than_rgb24_on_the_photo(small_sweep):
    df, _, _ = small_sweep
    photo = df[df["image"] == "photo"].set_index(["quantizer", "k", "encoding"])["bytes"].unstack()
    assert (photo["png8_pillow"] < photo["rgb24"]).all()
    assert (photo["png8_pypng"] < photo["rgb24"]).all()


def test_quantizes_once_per_image_k_quantizer(small_sweep):
    df, _, _ = small_sweep
    # Encodings of one (image, k, quantizer) share one quantization: identical MSE and fit time.
    per_quantization = df.groupby(["image", "k", "quantizer"])
    assert (per_quantization["fit_s"].nunique() == 1).all()
    assert (per_quantization["cached"].sum() == ENCODINGS - 1).all()


def test_records_original_file_and_environment(small_sweep):
    df, sweep_dir, out = small_sweep
    flower = df[df["image"] == "flower"].iloc[0]
    assert flower["original_mode"] == "RGB" and flower["original_bytes"] > 0
    env = json.loads((sweep_dir / "environment.json").read_text())
    assert env["packages"]["scikit-learn"] and env["cpu_count"] >= 1
    assert (sweep_dir / "results.csv").exists()
    assert f"{len(df)} rows ({len(df)} ok, 0 not ok)" in out
    assert QUANTIZERS >= 4 and ENCODINGS >= 4


def test_the_sweep_leaves_what_its_first_job_loaded_out_of_the_garbage_collector_and_gives_it_back(tmp_path,
                                                                                                    monkeypatch):
    import gc

    from kqbench import callbacks

    frozen, freeze = [], callbacks._freeze_what_is_loaded

    def recorded():
        freeze()
        frozen.append(gc.get_freeze_count())

    monkeypatch.setattr(callbacks, "_freeze_what_is_loaded", recorded)
    df, _, _ = sweep(tmp_path, "k=4,8", "quantizer=sampled", "encoding=png8_pillow", "dataset=synthetic",
                     "dataset.width=32", "dataset.height=24", *QUIET)
    assert (df["status"] == "ok").all()
    assert len(frozen) == 1 and frozen[0] > 10_000  # once, after the first job: the modules it loaded
    assert gc.get_freeze_count() == 0  # given back at the end: a later sweep in this process starts clean


def test_png8_with_k_above_256_fails_only_those_rows(tmp_path, image_folder):
    df, _, out = sweep(tmp_path, "k=16,300", "quantizer=sampled", "dataset=folder", f"dataset.path={image_folder}",
                       *QUIET)
    bad = df[(df["k"] == 300) & df["encoding"].str.startswith("png8")]
    assert len(bad) and (bad["status"] == "failed").all()
    assert bad["error"].str.contains("2..256").all()
    assert (df.drop(bad.index)["status"] == "ok").all()
    assert "failed" in out


def test_a_sweep_without_a_report_writes_no_provisional_one_either(tmp_path, image_folder, monkeypatch):
    from kqbench import callbacks

    monkeypatch.setattr(callbacks, "FINAL_SOON_S", 0.0)  # (this sweep is short: it would never be due)
    _, sweep_dir, _ = sweep(tmp_path, "k=4,8", "quantizer=sampled", "encoding=rgb24,png8_pillow", "dataset=folder",
                            f"dataset.path={image_folder}", *QUIET)
    assert (sweep_dir / "results.parquet").exists() and not (sweep_dir / "report.md").exists()


def test_bad_image_in_folder_is_one_failed_row(tmp_path, image_folder):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in image_folder.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.png").write_text("this is not a PNG")
    df, _, _ = sweep(tmp_path, "k=4", "quantizer=sampled", "encoding=png8_pillow", "dataset=folder",
                     f"dataset.path={folder}", *QUIET)
    broken = df[df["image"] == "broken"]
    assert len(broken) == 1 and broken["status"].iloc[0] == "failed"
    assert "broken.png" in broken["error"].iloc[0]
    assert (df[df["image"] != "broken"]["status"] == "ok").all()


@pytest.mark.slow
def test_default_sweep_as_typed(tmp_path):
    """The README's command: every k x the default quantizers x encodings x 6 bundled images, all exact."""
    df, _, _ = sweep(tmp_path, "k=16,64,256", cli=True)
    assert len(df) == 3 * QUANTIZERS * ENCODINGS * 6
    assert df["roundtrip_ok"].all() and (df["status"] == "ok").all()
    photos = df[df["image"].isin(["china", "flower", "grace_hopper"])]
    sizes = photos.set_index(["image", "quantizer", "k", "encoding"])["bytes"].unstack()
    assert (sizes["png8_pillow"] < sizes["rgb24"]).all() and (sizes["png8_pypng"] < sizes["rgb24"]).all()


def test_seed_question_ordering(tmp_path):
    """The question's story on a bundled photo: RGB24 > the 256-colour original > PNG-8 at k=64."""
    df, sweep_dir, _ = sweep(tmp_path, "+experiment=seed_question", "dataset.photos=[flower]", "quantizer.n_init=1",
                             *QUIET)
    assert set(df["encoding"]) == {"labels", "rgb24", "png8_pypng", "png8_pillow"} and (df["k"] == 64).all()
    row = df.set_index("encoding")
    original = row["original_bytes"].iloc[0]
    assert (row["original_mode"] == "P").all()
    assert (sweep_dir / "originals" / "flower_256colours.png").stat().st_size == original
    assert row.loc["rgb24", "bytes"] > original > row.loc["png8_pypng", "bytes"]


def test_python_m_kqbench_works_from_the_repository_root():
    """The README's first command runs `python -m kqbench` in the clone, where the source folder
    shadows the installed package: its configs must still be found."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "kqbench" / "__main__.py").is_file():
        pytest.skip("not run from a source checkout")
    proc = subprocess.run([sys.executable, "-m", "kqbench", "--cfg", "job", "+experiment=transparency"],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "AlphaSamples" in proc.stdout
