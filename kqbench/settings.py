"""A configuration as row columns: its parameters, their defaults, and what the classes say they are.

Plain Python: the entry point builds the quantizer and the encoder, this module describes them.
The parameters are read from the objects the scikit-learn way (the ``__init__`` signature), so a
quantizer or encoder needs no list of its own; the defaults in that signature are the reference
a swept parameter is compared with in the report (``conf/`` repeats them for ``--cfg job`` and
``--help``, and a test holds the two together).
"""

from __future__ import annotations

import inspect
import json
import numbers

# Parameters every quantizer takes that are set per job, not per option: they get their own columns.
JOB_PARAMETERS = ("n_colors", "random_state")


def _scalar(value):
    if value is None or isinstance(value, (str, bool, numbers.Number)):
        return value
    return str(list(value)) if isinstance(value, (list, tuple)) else str(value)


def _parameters(obj) -> list[inspect.Parameter]:
    return [p for name, p in inspect.signature(type(obj).__init__).parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def init_params(obj) -> dict:
    """An object's constructor parameters and their values (scikit-learn convention)."""
    return {p.name: _scalar(getattr(obj, p.name)) for p in _parameters(obj)}


def default_params(obj) -> dict:
    """The defaults of an object's constructor parameters (those that have one)."""
    return {p.name: _scalar(p.default) for p in _parameters(obj) if p.default is not p.empty}


def describe(group: str, name: str, obj) -> dict:
    """The setting columns of a quantizer or encoder (``group``): its option name, each parameter
    (``<group>.<param>``) and what its class says it is (``<group>_family``, ...)."""
    params = {p: v for p, v in init_params(obj).items() if p not in JOB_PARAMETERS}
    defaults = {p: v for p, v in default_params(obj).items() if p not in JOB_PARAMETERS}
    row = {group: name, **{f"{group}.{p}": v for p, v in params.items()},
           f"{group}_family": obj.family, f"{group}_takes_alpha": bool(obj.takes_alpha),
           f"{group}_rank": int(obj.rank), f"{group}_defaults": json.dumps(defaults, sort_keys=True)}
    if group == "encoding":
        row.update(encoding_writer=obj.writer, encoding_lossy=bool(obj.lossy))
    return row
