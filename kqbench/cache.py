"""Quantizations kept between jobs: on disk (for other processes and for resume) and in memory.

Every encoding of a sweep reuses the quantization of its (image, k, quantizer, seed, dither,
alpha): the key is the image's pixel content plus the quantizer's name and parameters. Files are
written atomically, so parallel jobs never read half a file; an entry that cannot be read (absent,
damaged, or from an older kqbench) is simply computed again. Parallel jobs of one quantization
(its encodings, run side by side by joblib or a SLURM array) do not compute it twice: the first
claims it (a lock beside the entry), and the others turn to another image and come back for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .measure import Quantized

# Quantizations kept in memory by one process (labels dominate: 1 byte per pixel), least recently
# used dropped first; the disk copy stays.
MEMORY_BUDGET = 128 * 2**20


class Busy(Exception):
    """Another process is computing this quantization now."""


class QuantizationCache:
    """Quantization results keyed by image content + quantizer name and parameters.

    ``directory=None`` keeps nothing (every quantization is computed).
    """

    def __init__(self, directory: str | os.PathLike | None):
        self.directory = Path(directory) if directory else None
        self._memory: OrderedDict[str, Quantized] = OrderedDict()

    @staticmethod
    def key(digest: str, quantizer_name: str, params: dict) -> str:
        blob = json.dumps({"image": digest, "quantizer": quantizer_name, "params": params},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def get(self, key: str) -> Quantized | None:
        if self.directory is None:
            return None
        q = self._memory.get(key)
        if q is not None:
            self._memory.move_to_end(key)
            return q
        try:
            with np.load(self.directory / f"{key}.npz") as z:
                meta = json.loads(str(z["meta"]))
                q = Quantized(labels=z["labels"], palette=z["palette"], fit_s=meta["fit_s"],
                              assign_s=meta["assign_s"], values=meta["values"], cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, unreadable, or written by another version: recompute
        self._remember(key, q)
        return q

    def get_or_compute(self, key: str, compute, *, wait: bool) -> Quantized:
        """The cached quantization, or ``compute()``'s, cached. While another process computes it:
        with ``wait``, wait for it and use its result; without, raise :class:`Busy`."""
        q = self.get(key)
        if q is not None:
            return q
        with self._claim(key, wait):
            q = self.get(key)  # finished by the process that held the claim
            if q is None:
                q = compute()
                self.put(key, q)
        return q

    @contextlib.contextmanager
    def _claim(self, key: str, wait: bool):
        if self.directory is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = self.directory / f"{key}.lock"
        with open(lock, "a") as f:  # flock: released by the kernel when a holder dies
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise Busy(key) from None
            try:
                yield
            finally:
                lock.unlink(missing_ok=True)
                fcntl.flock(f, fcntl.LOCK_UN)

    def put(self, key: str, q: Quantized) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {"fit_s": q.fit_s, "assign_s": q.assign_s, "values": q.values}
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, labels=q.labels, palette=q.palette, meta=json.dumps(meta))
        os.replace(tmp, self.directory / f"{key}.npz")  # atomic: parallel jobs never read half a file
        self._remember(key, Quantized(**{**q.__dict__, "cached": True}))

    def _remember(self, key: str, q: Quantized) -> None:
        self._memory[key] = q
        used = sum(x.labels.nbytes for x in self._memory.values())
        while used > MEMORY_BUDGET and len(self._memory) > 1:
            _, old = self._memory.popitem(last=False)
            used -= old.labels.nbytes
