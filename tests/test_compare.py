"""``kqbench compare A B``: ratios B/A per configuration, regressions flagged, an exit status for CI (0 none,
1 some, 2 unusable input). Hand-built tables for the rules; tiny real sweeps for the planted regression."""

import math
from pathlib import Path

import pandas as pd
import pytest

from kqbench import columns
from kqbench.__main__ import main as kqbench
from kqbench.compare import compare, key_columns, measures, render

from sweeps import run


def table(**changes) -> pd.DataFrame:
    """Four rows (2 images × k=16,64) of one configuration, as a sweep writes them; ``changes`` sets columns."""
    rows = []
    for image, mse in (("flat", 20.0), ("gradient", 40.0)):
        for k in (16, 64):
            rows.append({
                "image": image, "width": 48, "height": 32, "pixels": 1536, "original_mode": "RGB",
                "has_alpha": False, "k": k, "quantizer": "kmeans", "quantizer.max_iter": 300,
                "quantizer.n_init": "auto", "encoding": "png8", "encoding.order": "auto", "seed": 0,
                "dither": False, "alpha": "keep", "bytes": 300 + k, "mse": mse / k, "psnr": 10 * math.log10(255 ** 2 * k / mse),
                "delta_e2000": 2.0, "max_error": 30.0, "ssimulacra2": 80.0, "dssim": 0.02, "fit_s": 0.2, "assign_s": 0.02,
                "encode_s": 0.004,
                "repeats": 1, "roundtrip_ok": True, "status": "ok", "error": None,
                "quantizer_rank": 1, "source": f"/venv-a/{image}.png",
            })
    df = pd.DataFrame(rows)
    for name, value in changes.items():
        df[name] = value
    return df


def sweep_folder(path: Path, df: pd.DataFrame, kind: str = "parquet") -> Path:
    path.mkdir(parents=True)
    df.to_parquet(path / "results.parquet", index=False) if kind == "parquet" else df.to_csv(path / "results.csv",
                                                                                            index=False)
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    status = kqbench(["compare", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def listed(out: str, image: str, k: str) -> list[str]:
    """The cells of the table row for ``image`` and ``k`` (verdict first)."""
    return next(cells for cells in map(str.split, out.splitlines()) if cells[1:3] == [image, k])


def test_identical_tables_pass(tmp_path, capsys):
    a = sweep_folder(tmp_path / "a", table())
    b = sweep_folder(tmp_path / "b", table(source=[f"/venv-b/{i}" for i in range(4)], quantizer_rank=7))
    status, out, _ = cli(capsys, a, b)
    assert status == 0
    # the answer first; where the file lies (source) and class metadata do not make another configuration
    assert out.splitlines()[0] == ("kqbench compare: 0 regressions, 0 improvements, 4 unchanged, of 4 configurations "
                                   "compared (image × settings); 0 only in A, 0 only in B")
    assert "no configuration changed beyond the thresholds" in out


def test_directions_come_from_the_registry():
    """Every quality column with a direction, bytes and the timings are compared, each its way."""
    names = {m.name: m for m in measures()}
    assert names["bytes"].better == "lower"
    for c in columns.quality_measures():
        assert names[c.name].better == c.better and names[c.name].kind == "quality"
    assert {n for n, m in names.items() if m.kind == "time"} == {"fit_s", "assign_s", "encode_s"}

    base = table()
    for c in columns.quality_measures():
        worse = base[c.name] * (1.01 if c.better == "lower" else 0.99)
        result = compare(base, table(**{c.name: worse}))
        assert result.regressed.all() and set(result.rows[f"{c.name}:flag"]) == {"+"}, c.name
        better = compare(base, table(**{c.name: base[c.name] * (0.99 if c.better == "lower" else 1.01)}))
        assert better.improved.all() and not better.regressed.any(), c.name


def test_bytes_exact_and_quality_within_a_tiny_tolerance():
    base = table()
    one_byte = compare(base, table(bytes=base["bytes"] + [0, 1, 0, -1]))
    assert list(one_byte.rows["bytes:flag"]) == ["", "+", "", "-"]
    assert list(one_byte.rows["verdict"]) == ["", "+", "", "-"]
    noise = compare(base, table(mse=base["mse"] * (1 + 1e-12)))  # float noise, not a change
    assert not noise.rows["verdict"].ne("").any()
    assert compare(base, table(mse=base["mse"] * 1.001), tolerance=0.01).rows["mse:flag"].eq("").all()


def test_lossless_rows_compare_equal():
    lossless = table(mse=0.0, psnr=math.inf, max_error=0.0)
    result = compare(lossless, lossless.copy())
    assert not result.rows["verdict"].ne("").any() and (result.rows["psnr:ratio"] == 1).all()
    lossy = compare(lossless, table(mse=0.5, psnr=51.1, max_error=1.0))
    assert lossy.regressed.all() and set(lossy.rows["psnr:flag"]) == {"+"}


def test_timings_flagged_beyond_factor_and_floor_and_fail_only_when_asked(tmp_path, capsys):
    base = table()
    slower = table(fit_s=[0.2, 0.3, 0.22, 0.2], assign_s=[0.02, 0.02, 0.02, 0.025])
    result = compare(base, slower)
    # 1.5x and 0.1 s: flagged; 1.1x: under the factor; 1.25x but 0.005 s: under the floor
    assert list(result.rows["fit_s:flag"]) == ["", "+", "", ""]
    assert list(result.rows["assign_s:flag"]) == ["", "", "", ""]
    assert list(result.rows["verdict"]) == ["", "~", "", ""] and not result.regressed.any()
    assert compare(base, slower, fail_on_time=True).regressed.sum() == 1
    faster = compare(base, table(fit_s=0.1))
    assert set(faster.rows["fit_s:flag"]) == {"-"} and not faster.improved.any()

    a, b = sweep_folder(tmp_path / "a", base), sweep_folder(tmp_path / "b", slower)
    status, out, _ = cli(capsys, a, b)
    assert status == 0
    assert "timings: 1 configuration slower, 0 faster beyond 1.2× and 0.01 s (noisy: reported, not failed" in out
    assert "(3 unchanged and 1 with only timings flagged: --all lists them)" in out and "1.500+" not in out
    status, out, _ = cli(capsys, a, b, "--all")
    assert status == 0 and listed(out, "flat", "64")[0] == "~" and "1.500+" in listed(out, "flat", "64")
    status, out, _ = cli(capsys, a, b, "--fail-on-time")
    assert status == 1 and out.startswith("kqbench compare: 1 regression, 0 improvements, 3 unchanged")
    assert listed(out, "flat", "64")[0] == "+" and "1.500+" in listed(out, "flat", "64")
    assert cli(capsys, a, b, "--fail-on-time", "--time-factor", "2")[0] == 0


def test_outcome_changes(tmp_path):
    base = table()
    result = compare(base, table(status=["ok", "failed", "ok", "ok"], roundtrip_ok=[True, None, False, True]))
    assert list(result.rows["outcome"]) == ["", "ok→failed", "round trip fails", ""]
    assert list(result.rows["verdict"]) == ["", "+", "+", ""]
    fixed = compare(table(status=["failed", "ok", "failed", "ok"]), table(status=["ok", "ok", "failed", "ok"]))
    assert list(fixed.rows["verdict"]) == ["-", "", "", ""]
    assert "1 configuration not ok in either sweep" in render(fixed)


def test_configurations_in_one_sweep_only_are_listed_not_failed(tmp_path, capsys):
    base = table()
    more = pd.concat([base, table(k=[128, 256, 128, 256], bytes=900)], ignore_index=True)
    a, b = sweep_folder(tmp_path / "a", base), sweep_folder(tmp_path / "b", more)
    status, out, _ = cli(capsys, a, b)
    assert status == 0
    assert "0 regressions, 0 improvements, 4 unchanged, of 4 configurations compared" in out
    assert "0 only in A, 4 only in B" in out
    assert "only in B (4 rows, listed, not failed):" in out
    assert "k=128: 2 rows (flat, gradient)" in out and "k=256: 2 rows (flat, gradient)" in out
    assert "differs: k (A: 16, 64; B: 16, 64, 128, 256)" in out


def test_nothing_in_common_is_unusable_and_ignore_matches(tmp_path, capsys):
    """The planted change: another max_iter. Matched on every parameter, nothing is in common; --ignore it."""
    base = table()
    worse = table(**{"quantizer.max_iter": 1, "mse": base["mse"] * 1.3, "bytes": base["bytes"] + 5})
    a, b = sweep_folder(tmp_path / "a", base), sweep_folder(tmp_path / "b", worse)
    status, out, err = cli(capsys, a, b)
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"{b}/results.parquet: no configuration in common with {a}/results.parquet" in err
    assert "quantizer.max_iter: " in err and "has 300" in err and "has 1" in err and "--ignore COLUMN" in err

    status, out, _ = cli(capsys, a, b, "--ignore", "quantizer.max_iter")
    assert status == 1
    assert out.startswith("kqbench compare: 4 regressions, 0 improvements, 0 unchanged, of 4 configurations")
    assert "ignored (--ignore): quantizer.max_iter (A: 300; B: 1)" in out
    assert "regressions by column: bytes 4, mse 4\n" in out


def test_csv_and_parquet_tables_match_and_missing_columns(tmp_path, capsys):
    """A CSV table (e.g. results/reference/) has floats where parquet has ints; an older table lacks columns."""
    old = table().drop(columns=["max_error", "quantizer.n_init"])
    new = table()
    new["quantizer.n_init"] = None  # a parameter the old version did not have, unset: still the same configuration
    a = sweep_folder(tmp_path / "a", old, kind="csv")
    b = sweep_folder(tmp_path / "b", new)
    status, out, _ = cli(capsys, a, b)
    assert status == 0 and "4 unchanged, of 4 configurations compared" in out
    assert "not compared: max_error (only" in out
    assert cli(capsys, a / "results.csv", b / "results.parquet")[0] == 0


@pytest.mark.parametrize("case", ["missing", "empty folder", "not a table", "no columns", "duplicates",
                                  "bad ignore", "unreadable"])
def test_unusable_input_exits_2_with_one_line(tmp_path, capsys, case):
    a = sweep_folder(tmp_path / "a", table())
    b = tmp_path / "b"
    extra = []
    if case == "empty folder":
        b.mkdir()
    elif case == "not a table":
        b = tmp_path / "notes.txt"
        b.write_text("hello")
    elif case == "no columns":
        sweep_folder(b, pd.DataFrame({"x": [1]}))
    elif case == "duplicates":
        sweep_folder(b, pd.concat([table(), table()], ignore_index=True))
    elif case == "bad ignore":
        b, extra = a, ["--ignore", "quantizer.nope"]
    elif case == "unreadable":
        b.mkdir()
        (b / "results.parquet").write_bytes(b"PAR1 not really")
    status, out, err = cli(capsys, a, b, *extra)
    assert status == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kqbench compare: error: ")
    assert (str(b) in lines[0]) or case == "bad ignore"
    expected = {"missing": "no such file or folder", "empty folder": "kqbench table", "not a table": "give a sweep "
                "folder", "no columns": "not a kqbench results table", "duplicates": "share their configuration",
                "bad ignore": "not a configuration column", "unreadable": "cannot read it"}[case]
    assert expected in lines[0]


def test_key_columns_are_settings_and_image_not_paths_or_class_metadata():
    key = key_columns(table())
    assert {"image", "width", "k", "quantizer", "quantizer.max_iter", "quantizer.n_init", "encoding",
            "encoding.order", "seed", "dither", "alpha", "repeats"} <= set(key)
    assert not {"source", "quantizer_rank", "bytes", "fit_s", "status"} & set(key)


# --------------------------------------------------------------------------- real sweeps

TINY = ["dataset=synthetic", "dataset.width=48", "dataset.height=32", "dataset.kinds=[gradient,noise]",
        "quantizer=kmeans", "k=8", "encoding=png8", "report.enabled=false"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baseline")
    return run(folder, *TINY)[1]


def test_two_identical_sweeps_pass(baseline, tmp_path, capsys):
    _, again, _ = run(tmp_path, *TINY)
    status, out, _ = cli(capsys, baseline, again)
    assert status == 0, out
    assert out.startswith("kqbench compare: 0 regressions, 0 improvements, 2 unchanged, of 2 configurations")


def test_planted_regression_is_flagged(baseline, tmp_path, capsys):
    """The same sweep with a worse quantizer.max_iter (1: k-means stops after one step)."""
    df, planted, _ = run(tmp_path, *TINY, "quantizer.max_iter=1")
    status, out, _ = cli(capsys, baseline, planted, "--ignore", "quantizer.max_iter")
    assert status == 1, out
    assert out.startswith("kqbench compare: 2 regressions, 0 improvements, 0 unchanged, of 2 configurations")
    assert "mse 2, psnr 2, delta_e2000 2" in out  # k-means stopped after one step: worse on both images
    assert "ignored (--ignore): quantizer.max_iter (A: 300; B: 1)" in out
    summary, flagged = out.split("\n\n")[1:3]
    assert summary.splitlines()[2].split()[:4] == ["all", "2", "2", "0"]  # rows, worse, better
    heading, header, *rows = flagged.splitlines()
    assert heading == "2 configurations flagged:"
    assert header.split()[:5] == ["image", "bytes", "mse", "psnr", "delta_e2000"]
    assert [(r.split()[0], r.split()[1]) for r in rows[:2]] == [("+", "gradient"), ("+", "noise")]
    assert all(r.split()[3].endswith("+") and r.split()[4].endswith("+") for r in rows[:2])  # mse and psnr
    print(out)  # pytest -s shows what a CI log would
