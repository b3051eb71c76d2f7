"""Exceptions that become a row's ``status`` instead of stopping a sweep, and the one that must stop it."""

import sys


class ConfigurationError(ValueError):
    """This configuration cannot run (e.g. a PNG-8 encoding asked for k=300)."""


class NotInstalledError(RuntimeError):
    """An optional peer (library or command-line tool) is missing; the row says "not installed"."""


def interruption(exc: BaseException) -> BaseException | None:
    """The launcher's order to end this job, if ``exc`` is or was caused by one; else None.

    submitit raises ``UncompletedJobError`` from its SIGUSR2 handler, wherever the job is, when SLURM
    warns that the job's time limit is near (``--signal=USR2@signal_delay_s``) and it will not be
    requeued: it is not a failure of the image being measured, and a row must not say it is.
    """
    utils = sys.modules.get("submitit.core.utils")  # not imported: not running under submitit
    while utils is not None and exc is not None:
        if isinstance(exc, utils.UncompletedJobError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
