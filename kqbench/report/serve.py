"""A report renderer that stays up for a whole sweep: the sweep's provisional reports and its final one,
rendered in one process that has imported what they need once.

``python -m kqbench.report.serve`` reads one request per line on stdin, a JSON object of
:func:`kqbench.report.render`'s keyword arguments (``sweep_dir`` included), renders it, and answers on
stdout with one JSON line: ``{"report": path}``, or ``{"error": "Type: message"}``. It ends at the end
of its input. Once its first report is written it imports what a final report needs as well (the
figures, the HTML page), so that the final report, when it is asked for, only renders.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading


def serve(requests=sys.stdin, answers=sys.stdout, nice_after_first: int = 0, warm_after: str | None = None) -> None:
    """Answer each request of ``requests``; after the first, lower this process's CPU priority by
    ``nice_after_first`` (a sweep's first answer comes at the priority it was started with; later
    provisional reports yield to work the sweep will wait for, such as its background compile), and
    import what a final report needs, on a thread, once the file ``warm_after`` is not locked (the
    sweep's background compile holds a lock on it while it runs: those imports do not take its CPU)."""
    from . import render

    warm = False
    for line in requests:
        try:
            answer = {"report": str(render(**json.loads(line)))}
        except Exception as exc:  # noqa: BLE001 - the caller reports it, and renders it itself
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
        if not warm:
            if nice_after_first:
                with contextlib.suppress(AttributeError, OSError):
                    os.nice(nice_after_first)
            threading.Thread(target=_warm, args=(warm_after,), daemon=True).start()
            warm = True


def _warm(after: str | None) -> None:
    """Import what a final report needs (the figures, the HTML page), once the file ``after`` (if any) is not
    locked (:func:`wait_unlocked`)."""
    if after:
        wait_unlocked(after)
    from . import contact, html, plots  # noqa: F401 - imported here, before the final report needs them


def wait_unlocked(path: str) -> None:
    """Return once no process holds a lock on the file ``path`` (at once where it cannot be opened or locked).
    The lock is not kept: a sweep's job tests it to learn that the background compile has ended."""
    with contextlib.suppress(ImportError, OSError), open(path) as f:
        import fcntl

        fcntl.flock(f, fcntl.LOCK_SH)


if __name__ == "__main__":
    serve()
