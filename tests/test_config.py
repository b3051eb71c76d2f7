"""Configs compose in-process, every option instantiates, and the default sweep is the promised grid."""

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from importlib import resources

from kqbench.callbacks import count_jobs
from kqbench.encoders import Encoder
from kqbench.quantizers import Quantizer


def options(group):
    return sorted(p.name[:-5] for p in (resources.files("kqbench.conf") / group).iterdir() if p.name.endswith(".yaml"))


@pytest.fixture
def cfg_of():
    def _compose(*overrides):
        GlobalHydra.instance().clear()
        with initialize_config_module("kqbench.conf", version_base="1.3"):
            return compose("config", overrides=list(overrides), return_hydra_config=True)
    yield _compose
    GlobalHydra.instance().clear()


def test_primary_config_sweeps_without_dash_m(cfg_of):
    cfg = cfg_of()
    assert cfg.hydra.mode.name == "MULTIRUN"
    params = cfg.hydra.sweeper.params
    assert len(params.quantizer.split(",")) >= 4
    assert len(params.encoding.split(",")) >= 4
    assert params.k == "16,64,256"


@pytest.mark.parametrize("name", options("quantizer"))
def test_every_quantizer_option_instantiates(cfg_of, name):
    cfg = cfg_of(f"quantizer={name}")
    q = instantiate(cfg.quantizer, n_colors=8, random_state=0)
    assert isinstance(q, Quantizer) and q.n_colors == 8


@pytest.mark.parametrize("name", options("encoding"))
def test_every_encoding_option_instantiates(cfg_of, name):
    assert isinstance(instantiate(cfg_of(f"encoding={name}").encoding), Encoder)


def test_dataset_options(cfg_of, tmp_path):
    names = [s.name for s in instantiate(cfg_of().dataset)]
    assert names[:3] == ["china", "flower", "grace_hopper"] and len(names) >= 6
    folder = instantiate(cfg_of("dataset=folder", f"dataset.path={tmp_path}").dataset)
    assert folder.path == str(tmp_path)


def test_the_questions_kmeans_setting_composes(cfg_of):
    cfg = cfg_of("quantizer=kmeans", "quantizer.n_init=10", "quantizer.max_iter=200")
    q = instantiate(cfg.quantizer, n_colors=64, random_state=0)
    assert (q.n_init, q.max_iter) == (10, 200)


def test_job_count_command_line_replaces_default_axis(cfg_of):
    n_q = len(cfg_of().hydra.sweeper.params.quantizer.split(","))
    n_e = len(cfg_of().hydra.sweeper.params.encoding.split(","))
    cfg = cfg_of()
    cfg.hydra.overrides.task = ["k=4,16"]
    assert count_jobs(cfg) == 2 * n_q * n_e
    cfg.hydra.overrides.task = ["k=4,16", "quantizer=kmeans", "seed=0,1,2"]
    assert count_jobs(cfg) == 2 * 1 * n_e * 3


def test_seed_question_experiment_composes(cfg_of):
    cfg = cfg_of("+experiment=seed_question")
    assert cfg.hydra.sweeper.params.k == "64"
    assert set(cfg.hydra.sweeper.params.encoding.split(",")) >= {"labels", "rgb24", "png8_pypng"}
    q = instantiate(cfg.quantizer, n_colors=cfg.k, random_state=0)
    assert (q.n_colors, q.n_init, q.max_iter) == (64, 10, 200)
    assert cfg.dataset._target_.endswith("PaletteSamples")
    assert cfg.report.question.sizes_kb.original == 435


def test_transparency_and_encoding_axes_experiments_compose(cfg_of):
    cfg = cfg_of("+experiment=transparency")
    assert cfg.dataset._target_.endswith("AlphaSamples") and cfg.alpha == "keep"
    assert cfg.hydra.sweeper.params.alpha == "keep,drop"
    assert "fast" not in cfg.hydra.sweeper.params.quantizer.split(",")  # it cannot take alpha
    cfg.hydra.overrides.task = []
    assert count_jobs(cfg) == 4 * 3 * 6 * 2
    axes = cfg_of("+experiment=encoding_axes").hydra.sweeper.params
    assert axes["encoding.compress_level"] == "1,6,9" and axes.dither == "false,true"


def test_the_sweeper_validates_every_value_of_every_key_with_few_jobs():
    from hydra_plugins.hydra_kqbench.kqbench_plugins import representatives

    batch = [[f"q={q}", f"k={k}", f"e={e}"] for q in "abcde" for k in (16, 64, 256) for e in "vwxyz"]
    chosen = representatives(batch)
    assert len(chosen) == 1 + 4 + 2 + 4  # the first job, then one per other value
    assert {item for job in chosen for item in job} == {item for job in batch for item in job}
    assert chosen[0] == batch[0]


def test_the_default_sweep_uses_kqbenchs_sweeper_and_launcher(cfg_of):
    hydra_cfg = cfg_of().hydra
    assert hydra_cfg.sweeper._target_.endswith("KqbenchSweeper")
    assert hydra_cfg.launcher._target_.endswith("KqbenchLauncher")
    assert cfg_of("hydra/launcher=joblib").hydra.launcher._target_.endswith("JoblibLauncher")


def test_the_background_compile_plans_the_stages_the_sweep_needs(cfg_of):
    from kqbench.callbacks import _compile_stages, sweep_values

    def stages(*overrides):
        cfg = cfg_of()
        cfg.hydra.overrides.task = list(overrides)
        return [s.rsplit(":", 1)[1] for s in _compile_stages(cfg, sweep_values(cfg))]

    # the default sweep: fast in RGB first (what every job waits for), then what only some images need
    rgb = ["fast-seed", "fast-rgb", "rgb-remap", "fast-hartigan"]
    assert stages() == [*rgb, "fast-large", "fast-rgba"]
    assert stages("quantizer=kmeans,sampled") == []
    assert stages("quantizer=wu,fast", "quantizer.colour_space=rgb,oklab") == ["wu", *rgb, "fast-large", "fast-rgba",
                                                                              "fast-oklab"]
    assert stages("quantizer=fast", "quantizer.init=wu") == [*rgb, "fast-wu", "fast-large", "fast-rgba"]


def test_the_launcher_composes_the_jobs_its_composing_process_has_not_sent(tmp_path):
    import os
    import signal
    import time

    from hydra.types import RunMode

    import hydra_plugins.hydra_kqbench.kqbench_plugins as plugins

    GlobalHydra.instance().clear()
    with initialize_config_module("kqbench.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=[f"hydra.sweep.dir={tmp_path}"],
                                           run_mode=RunMode.MULTIRUN)
        ahead = plugins._Ahead(loader, master, [["k=4"], ["k=8"], ["k=16"]], 0, validate=[0, 1])
        try:
            os.kill(ahead.proc.pid, signal.SIGSTOP)  # no CPU at all, as on a machine busy at higher priority
            t0 = time.monotonic()
            assert not ahead.validated()  # the launcher then checks the configs itself
            assert ahead.get(0) is None and ahead.wanted.value == 1  # composed by the launcher, skipped there
            assert ahead.get(1) is None and ahead.wanted.value == 2
            assert time.monotonic() - t0 < 5
            os.kill(ahead.proc.pid, signal.SIGCONT)
            time.sleep(3)  # it composes the jobs it validates, then job 2 (not 0 and 1)
            job = ahead.get(2)
            assert job is not None and job.config.k == 16 and job.task_cfg.k == 16 and "hydra" not in job.task_cfg
            assert job.hydra_view.hydra.runtime.output_dir == str(tmp_path / "2")
            assert (tmp_path / "2" / ".hydra" / "config.yaml").is_file()
        finally:
            ahead.close()
    GlobalHydra.instance().clear()


def _derived_and_composed(tmp_path, jobs) -> int:
    """Each job's config as the launcher derives it (and the YAML it writes of it), against Hydra's
    composition; how many it composed."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    import hydra_plugins.hydra_kqbench.kqbench_plugins as plugins

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("kqbench.conf", version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            master = loader.load_configuration(
                "config", overrides=[f"hydra.sweep.dir={tmp_path}", "report.quality=mse"], run_mode=RunMode.MULTIRUN)
            expected = {tuple(job): OmegaConf.to_yaml(loader.load_sweep_config(master, list(job))) for job in jobs}
            compositions = []
            compose = loader.load_sweep_config
            loader.load_sweep_config = lambda *args: compositions.append(args) or compose(*args)
            templates: dict = {}
            for job in jobs:
                derived = plugins._job_config(loader, master, list(job), templates)
                assert OmegaConf.to_yaml(derived) == expected[tuple(job)], job
                assert plugins._yaml(derived) == expected[tuple(job)], job  # the text written to its .hydra/
            return len(compositions)
    finally:
        GlobalHydra.instance().clear()


def test_a_job_that_differs_only_in_plain_values_is_the_config_hydra_composes(tmp_path):
    import itertools

    axes = [["quantizer=kmeans", "quantizer=fast"], ["k=16", "k=64"], ["encoding=png8"],
            ["quantizer.max_iter=300", "quantizer.max_iter=50"], ["dither=false", "dither=true"]]
    assert _derived_and_composed(tmp_path, list(itertools.product(*axes))) == 2  # one per quantizer


def test_a_job_with_other_options_of_config_groups_is_the_config_hydra_composes(tmp_path):
    # every option of conf/quantizer, conf/encoding and conf/dataset, each next to others than the one it was
    # composed with, and with values set in its own node: derived from the option's node as Hydra composed it
    quantizers, encodings, datasets = options("quantizer"), options("encoding"), options("dataset")
    jobs = [[f"quantizer={q}", f"k={k}", f"encoding={encodings[(i + shift) % len(encodings)]}",
             f"dataset={datasets[(i + shift) % len(datasets)]}"]
            for shift, k in ((0, 16), (3, 64)) for i, q in enumerate(quantizers)]
    jobs += [["quantizer=fast", "k=16", f"encoding={e}", "dataset=samples"] for e in encodings]
    jobs += [["quantizer=kmeans", "k=16", "encoding=png8", "dataset=samples", "+experiment=frontier"],
             ["quantizer=fast", "k=16", "encoding=rgb24", "dataset=samples", "+experiment=frontier"]]
    # a composition where a job first chooses an option (in its shape: with or without the experiment), not one
    # per combination
    seen, first_choices = set(), 0
    for job in jobs:
        shape = "+experiment=frontier" in job
        first_choices += not {(shape, o) for o in job if not o.startswith("k=")} <= seen
        seen |= {(shape, o) for o in job if not o.startswith("k=")}
    assert _derived_and_composed(tmp_path, jobs) == first_choices < len(jobs) / 2


def test_the_default_sweep_composes_one_job_per_quantizer_and_encoding(tmp_path):
    import itertools

    jobs = [[f"quantizer={q}", f"k={k}", f"encoding={e}"] for q, k, e in itertools.product(
        ["sampled", "minibatch", "unique", "kmeans", "fast"], [16, 256],
        ["rgb24", "labels", "png8_pypng", "png8_pillow", "png8"])]
    assert _derived_and_composed(tmp_path, jobs) == 9
