"""The sweep's background compile: a job waits for the stage it needs, never on a compile that cannot run,
and no background process runs while anything is timed."""

import fcntl
import os
import subprocess
import sys
import threading
import time

from kqbench import measure
from kqbench.measure import _wait_for_background_compile


def test_a_job_does_not_wait_for_a_background_compile_that_gets_no_cpu(tmp_path, monkeypatch):
    lock = tmp_path / ".compiling"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    # holds the lock and gets no CPU, as an idle-priority compile does on a machine busy with other work
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], pass_fds=(fd,))
    os.write(fd, str(holder.pid).encode())
    os.close(fd)
    monkeypatch.setenv("KQBENCH_COMPILE_LOCK", str(lock))
    try:
        waiting = threading.Thread(target=_wait_for_background_compile, daemon=True)
        waiting.start()
        waiting.join(timeout=60)
        assert not waiting.is_alive(), "the job waited on a compile that made no progress"
    finally:
        holder.kill()
        holder.wait()



def _busy_holder(lock):
    """A process that holds ``lock`` (its pid in it, as the sweep's compile) and uses a whole core."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    holder = subprocess.Popen([sys.executable, "-c", "while True: pass"], pass_fds=(fd,))
    os.write(fd, str(holder.pid).encode())
    os.close(fd)
    return holder


def test_a_job_waits_only_for_the_stage_it_needs(tmp_path, monkeypatch):
    lock = tmp_path / ".compiling"
    holder = _busy_holder(lock)
    monkeypatch.setenv("KQBENCH_COMPILE_LOCK", str(lock))
    (tmp_path / ".compiling.done").write_text("fast-rgb\n")
    try:
        compiled = threading.Thread(target=_wait_for_background_compile, args=(("fast-rgb",),), daemon=True)
        compiled.start()
        compiled.join(timeout=30)
        assert not compiled.is_alive(), "waited for a stage already compiled"
        pending = threading.Thread(target=_wait_for_background_compile, args=(("fast-oklab",),), daemon=True)
        pending.start()
        pending.join(timeout=2.5)
        assert pending.is_alive(), "did not wait for a stage still compiling"
    finally:
        holder.kill()
        holder.wait()
    pending.join(timeout=30)
    assert not pending.is_alive(), "kept waiting after the compile ended"


def test_a_waiting_job_compiles_the_last_stage_it_needs_while_the_background_compiles_the_first(tmp_path, monkeypatch):
    lock = tmp_path / ".compiling"
    holder = _busy_holder(lock)
    monkeypatch.setenv("KQBENCH_COMPILE_LOCK", str(lock))
    compiled_here = []
    try:
        waiting = threading.Thread(target=_wait_for_background_compile,
                                   args=(("fast-rgb", "rgb-remap"), compiled_here.append), daemon=True)
        waiting.start()
        waiting.join(timeout=2.5)
        # the last stage it needs, here, once; then it waits for the first, which the background compiles
        assert compiled_here == ["rgb-remap"] and waiting.is_alive()
        (tmp_path / ".compiling.done").write_text("fast-rgb\n")
        waiting.join(timeout=30)
        assert not waiting.is_alive(), "kept waiting once every stage it needs was compiled"
        assert compiled_here == ["rgb-remap"]
        # one stage left: the background compiles it (a second compile here would only repeat its work)
        alone = threading.Thread(target=_wait_for_background_compile, args=(("fast-oklab",), compiled_here.append),
                                 daemon=True)
        alone.start()
        alone.join(timeout=2.5)
        assert alone.is_alive() and compiled_here == ["rgb-remap"]
    finally:
        holder.kill()
        holder.wait()
    alone.join(timeout=30)


def test_the_time_a_job_waits_for_compiled_code_is_counted_and_said(tmp_path, monkeypatch, caplog):
    # what the sweep's time breakdown reports as waiting for first-use numba code, and the job's log line
    lock = tmp_path / ".compiling"
    holder = _busy_holder(lock)
    monkeypatch.setenv("KQBENCH_COMPILE_LOCK", str(lock))
    monkeypatch.setattr(measure, "compile_wait_s", 1.0)

    class Compiled:
        compile_ahead = None  # (one stage: nothing is compiled here)

    done = threading.Timer(0.5, (tmp_path / ".compiling.done").write_text, args=("fast-oklab\n",))
    try:
        done.start()
        with caplog.at_level("INFO", logger="kqbench.measure"):
            measure._wait_for_compile(Compiled, ("fast-oklab",))
    finally:
        holder.kill()
        holder.wait()
    assert 1.4 <= measure.compile_wait_s < 31
    assert "s waiting for Compiled's numba code to compile (first use: fast-oklab; untimed)" in caplog.text


def test_background_processes_are_stopped_while_anything_is_timed(monkeypatch):
    monkeypatch.setattr(measure, "_PAUSED_WHILE_TIMED", [])
    worker = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        measure.pause_while_timed(worker)
        before = measure.cpu_seconds(str(worker.pid))
        during = {}

        def timed():
            time.sleep(1.0)
            during["cpu"] = measure.cpu_seconds(str(worker.pid))

        measure.median_time(timed, 1)
        assert during["cpu"] - before < 0.1, "a background process ran beside a timed call"
        time.sleep(1.0)
        assert measure.cpu_seconds(str(worker.pid)) - during["cpu"] > 0.3, "not resumed after the timed call"
    finally:
        worker.kill()
        worker.wait()
    measure.median_time(lambda: None, 1)  # an ended process is dropped, never signalled again
    assert measure._PAUSED_WHILE_TIMED == []
