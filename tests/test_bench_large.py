"""`kqbench bench large` on a small image: the benchmark runs and prints every method's row (it asserts no
timing: a benchmark, not a test)."""

import pytest

from kqbench.benchmarks import large


def test_bench_large_prints_every_method_and_skips_the_jobs_when_told(capsys):
    large.main(["--width", "64", "--height", "48", "--repeats", "1", "--jobs", "none"])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert "fast" in rows and "wu" in rows and "libimagequant" in rows  # (a "not installed" row without it)
    assert "whole sweep jobs" not in out


def test_bench_large_says_which_job_it_cannot_run(capsys):
    with pytest.raises(SystemExit):
        large.main(["--jobs", "fast:gif"])
    assert "--jobs fast:gif: give quantizer:encoding" in capsys.readouterr().err
