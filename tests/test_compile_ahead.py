"""A job that needs code the sweep compiles in the background never waits on a compile that cannot run."""

import fcntl
import os
import subprocess
import sys
import threading

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

