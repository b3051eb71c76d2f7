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


def serve(requests=sys.stdin, answers=sys.stdout, nice_after_first: int = 0) -> None:
    """Answer each request of ``requests``; after the first, lower this process's CPU priority by
    ``nice_after_first`` (a sweep's first answer comes at the priority it was started with; later
    provisional reports yield to work the sweep will wait for, such as its background compile)."""
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
            from . import contact, html, plots  # noqa: F401 - imported here, before the final report needs them

            warm = True


if __name__ == "__main__":
    serve()
