"""What several test modules share: the sweep settings of the primary config, read from it."""

import functools
from importlib import resources

from hydra.utils import instantiate
from omegaconf import OmegaConf

from kqbench.settings import describe

_PRIMARY = OmegaConf.create(resources.files("kqbench.conf").joinpath("config.yaml").read_text())

# run_configuration's per-job settings at the values a sweep uses by default (conf/config.yaml)
SETTINGS = {key: _PRIMARY[key] for key in ("repeats", "keep_files", "dither", "alpha")}
SETTINGS["metrics"] = tuple(_PRIMARY.metrics)

# The columns that differ between two runs of the same sweep (what it took, and whether it was reused)
TIMING = ["fit_s", "assign_s", "quantize_peak_bytes", "encode_s", "cached"]


@functools.lru_cache(maxsize=None)
def _option(group: str, name: str):
    node = OmegaConf.create(resources.files("kqbench.conf").joinpath(f"{group}/{name}.yaml").read_text())
    return instantiate(node, n_colors=16) if group == "quantizer" else instantiate(node)


def metadata(quantizer: str, encoding: str) -> dict:
    """The columns a sweep writes about what its quantizer and encoder classes are (family, writer, rank,
    defaults, ...), for the ``conf/`` options of these names: for tables built by hand."""
    columns = {**describe("quantizer", quantizer, _option("quantizer", quantizer)),
               **describe("encoding", encoding, _option("encoding", encoding))}
    return {c: v for c, v in columns.items() if "_" in c and "." not in c}
