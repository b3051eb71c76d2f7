"""What several test modules share: the sweep settings of the primary config, read from it."""

from importlib import resources

from omegaconf import OmegaConf

_PRIMARY = OmegaConf.create(resources.files("kqbench.conf").joinpath("config.yaml").read_text())

# run_configuration's per-job settings at the values a sweep uses by default (conf/config.yaml)
SETTINGS = {key: _PRIMARY[key] for key in ("repeats", "keep_files", "dither", "alpha")}
