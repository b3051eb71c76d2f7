"""A job's rows reach the disk one by one and survive an interruption; the sweep's table gathers them."""

import json

import pandas as pd

from kqbench.table import JOURNAL, ROW_FILE, TABLE_ROWS, JobRows, collect, read_job


def row(image, **more):
    return {"image": image, "source": f"/data/{image}.png", "k": 16, "bytes": 100, "psnr": float("inf"),
            "status": "ok", **more}


def test_an_interrupted_job_keeps_every_finished_row_and_the_table_gathers_them(tmp_path):
    job = tmp_path / "sweep" / "0"
    written = JobRows(job)
    written.append(row("a"))
    written.append(row("b", bytes=200))
    # killed here: the row file holds both rows (and a torn line the kill left)
    with open(job / JOURNAL, "a") as f:
        f.write('{"image": "c", "so')
    assert read_job(job)["image"].tolist() == ["a", "b"]
    table = collect(tmp_path / "sweep")
    assert table["bytes"].tolist() == [100, 200] and table["psnr"].tolist() == [float("inf")] * 2
    resumed = JobRows(job)  # the torn line ended, the next row on a line of its own
    resumed.append(row("c"))
    resumed.close()
    assert read_job(job)["image"].tolist() == ["a", "b", "c"]


def test_a_finished_job_keeps_its_rows_in_its_row_file(tmp_path):
    with JobRows(tmp_path) as written:
        written.append(row("a"))
        written.append(row("b"))
    assert [json.loads(line)["image"] for line in (tmp_path / JOURNAL).read_text().splitlines()] == ["a", "b"]
    assert read_job(tmp_path)["image"].tolist() == ["a", "b"]


def test_a_job_of_many_rows_ends_with_them_as_one_table(tmp_path):
    with JobRows(tmp_path) as written:
        for i in range(TABLE_ROWS):
            written.append(row(f"im{i}"))
    assert not (tmp_path / JOURNAL).exists()
    assert pd.read_parquet(tmp_path / ROW_FILE)["image"].tolist() == [f"im{i}" for i in range(TABLE_ROWS)]
    resumed = JobRows(tmp_path)  # (resumed: its rows kept, one measured again)
    for i in range(1, TABLE_ROWS):
        resumed.append(row(f"im{i}"), measured=False)
    resumed.append(row("im0", status="failed"))
    assert read_job(tmp_path).set_index("image").loc["im0", "status"] == "failed"  # table + journal
    resumed.close()
    assert not (tmp_path / JOURNAL).exists() and len(pd.read_parquet(tmp_path / ROW_FILE)) == TABLE_ROWS


def test_a_resumed_job_replaces_a_row_it_measured_again(tmp_path):
    with JobRows(tmp_path) as first:
        first.append(row("a", status="failed"))
        first.append(row("b"))
    resumed = JobRows(tmp_path)
    resumed.append(row("b"), measured=False)  # kept: not written again
    resumed.append(row("a"))  # measured again, ok this time
    resumed.close()
    lines = [json.loads(line) for line in (tmp_path / JOURNAL).read_text().splitlines()]
    assert [r["image"] for r in lines] == ["a", "b", "a"]
    seen = read_job(tmp_path).set_index("image")["status"]
    assert seen.to_dict() == {"a": "ok", "b": "ok"} and len(seen) == 2


def test_a_job_folder_from_an_earlier_kqbench_is_still_read(tmp_path):
    pd.DataFrame([row("a", status="failed"), row("b")]).to_parquet(tmp_path / ROW_FILE, index=False)
    with JobRows(tmp_path) as resumed:
        resumed.append(row("a"))
    assert read_job(tmp_path).set_index("image")["status"].to_dict() == {"a": "ok", "b": "ok"}


def test_a_quantization_another_job_is_computing_is_not_computed_twice(tmp_path):
    import numpy as np
    import pytest

    from kqbench.cache import Busy, QuantizationCache
    from kqbench.measure import Quantized

    made = Quantized(labels=np.zeros((2, 2), np.uint8), palette=np.zeros((1, 3), np.uint8), fit_s=0.1,
                     assign_s=0.0, values={})
    ours, theirs = QuantizationCache(tmp_path), QuantizationCache(tmp_path)
    with theirs._claim("k1", wait=False):  # another job holds the claim while it computes
        with pytest.raises(Busy):
            ours.get_or_compute("k1", lambda: made, wait=False)
        theirs.put("k1", made)
    got = ours.get_or_compute("k1", lambda: pytest.fail("computed again"), wait=True)
    assert got.cached and got.fit_s == 0.1


def test_the_sweep_table_joins_every_job_with_one_type_per_column(tmp_path):
    sweep = tmp_path / "sweep"
    with JobRows(sweep / "0") as job:  # a parameter this quantizer leaves at None
        job.append(row("a", **{"quantizer.n_threads": None, "quantizer.init": "k-means++"}))
    with JobRows(sweep / "1") as job:  # another quantizer: no such parameter; an integer where the other has text
        job.append(row("a", k=64, **{"quantizer.init": 3}))
        job.append(row("b", k=64, bytes=150))
    with JobRows(sweep / "1") as job:  # resumed: b measured again
        job.append(row("b", k=64, bytes=160))
    many = pd.DataFrame([row(f"im{i}", k=256) for i in range(TABLE_ROWS)])
    (sweep / "2").mkdir()
    many.to_parquet(sweep / "2" / ROW_FILE, index=False)
    table = collect(sweep)
    assert len(table) == 3 + TABLE_ROWS and table["k"].value_counts().to_dict() == {256: TABLE_ROWS, 16: 1, 64: 2}
    assert table.set_index(["image", "k"]).loc[("b", 64), "bytes"] == 160
    assert table["quantizer.n_threads"].isna().all() and table["quantizer.n_threads"].dtype == object
    assert set(table["quantizer.init"].dropna()) == {"k-means++", "3"}  # text, as Parquet needs one type
    table.to_parquet(tmp_path / "t.parquet")
    assert pd.read_parquet(tmp_path / "t.parquet")["bytes"].sum() == 100 + 100 + 160 + 100 * TABLE_ROWS
