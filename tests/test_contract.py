"""The contract every option in ``conf/`` honours (scikit-learn's ``check_estimator``, for kqbench).

Parametrised over every ``conf/quantizer/*.yaml`` and ``conf/encoding/*.yaml``, so a new option is
checked the moment its file exists; plus the one-source-of-truth rules the harness relies on: the
yaml repeats its class's defaults, the README's column table is the registry's, no report module
names an option, and only the entry point and callbacks use Hydra.
"""

import ast
import inspect
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.base import clone

import kqbench
from kqbench import columns
from kqbench.encoders import Encoder
from kqbench.errors import ConfigurationError, NotInstalledError
from kqbench.metrics import mse, psnr
from kqbench.quantizers import Quantizer
from kqbench.settings import default_params, describe

CONF = resources.files("kqbench.conf")
PACKAGE = Path(kqbench.__file__).parent


def options(group):
    return sorted(p.name[:-5] for p in (CONF / group).iterdir() if p.name.endswith(".yaml"))


def node(group, name):
    return OmegaConf.create((CONF / group / f"{name}.yaml").read_text())


def make(group, name, **kw):
    return instantiate(node(group, name), **kw)


@pytest.fixture(scope="module")
def image(photo):
    """A 96x64 photo crop with many colours, and an RGBA version with opaque, translucent and clear pixels."""
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:16, :, 3] = 0
    rgba[16:24, :, 3] = 128
    return photo, rgba


# --- quantizers --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", options("quantizer"))
def test_quantizer_contract(name, image):
    rgb, rgba = image
    q = make("quantizer", name, n_colors=16, random_state=0)
    assert isinstance(q, Quantizer)
    # what the class says it is, as the rows record it
    cols = describe("quantizer", name, q)
    assert isinstance(cols["quantizer_family"], str) and cols["quantizer_family"]
    assert isinstance(cols["quantizer_rank"], int) and isinstance(cols["quantizer_takes_alpha"], bool)
    # parameters the scikit-learn way: get_params round-trips through clone
    assert clone(q).get_params() == q.get_params()
    try:
        fitted = clone(q).fit(rgb)
    except NotInstalledError as exc:
        assert "\n" not in str(exc) and "install" in str(exc)
        pytest.skip(f"{name}: {exc}")
    palette = fitted.palette_
    assert palette.dtype == np.uint8 and palette.shape[1] == 3 and 1 <= len(palette) <= 16
    assert len(np.unique(palette, axis=0)) == len(palette)
    labels = fitted.predict(rgb)
    d = ((rgb.reshape(-1, 1, 3).astype(np.int64) - palette[None].astype(np.int64)) ** 2).sum(-1)
    assert np.array_equal(d[np.arange(len(d)), labels], d.min(1))  # the exact nearest palette colour
    assert np.array_equal(clone(q).fit(rgb).palette_, palette)  # deterministic for a seed
    few = palette[np.arange(40 * 30).reshape(40, 30) % min(len(palette), 5)]
    assert mse(few, clone(q).fit(few).palette_[clone(q).fit(few).predict(few)].reshape(few.shape)) == 0
    # images with transparency: quantized as RGBA, or a one-line error that says what to do
    if q.takes_alpha:
        assert clone(q).fit(rgba).palette_.shape[1] == 4
    else:
        with pytest.raises(ConfigurationError) as err:
            clone(q).fit(rgba)
        assert "\n" not in str(err.value) and "alpha=drop" in str(err.value)


# --- encodings ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", options("encoding"))
def test_encoding_contract(name, image, tmp_path):
    rgb, rgba = image
    enc = make("encoding", name)
    assert isinstance(enc, Encoder)
    cols = describe("encoding", name, enc)
    assert cols["encoding_family"] in (columns.PALETTE_PNG, columns.TRUECOLOUR_PNG, columns.LABEL_PNG,
                                       columns.WEBP, columns.JPEG)
    assert cols["encoding_writer"] and isinstance(cols["encoding_rank"], int)
    assert isinstance(cols["encoding_lossy"], bool) and isinstance(cols["encoding_takes_alpha"], bool)
    q = make("quantizer", "kmeans", n_colors=16, random_state=0).fit(rgb)
    labels, palette = q.predict(rgb).reshape(rgb.shape[:2]).astype(np.uint8), q.palette_
    path = tmp_path / f"x{enc.suffix}"
    try:
        enc.check_k(16)
    except NotInstalledError as exc:
        assert "\n" not in str(exc) and "install" in str(exc)
        pytest.skip(f"{name}: {exc}")
    if enc.lossy:  # the original at the lowest quality whose PSNR reaches the target
        target = psnr(mse(rgb, palette[labels]))
        quality, got = enc.write_matched(rgb, target, path)
        assert got == mse(rgb, enc.decode(path)) and (psnr(got) >= target or quality == enc.quality_range[1])
    else:  # a real file that decodes to exactly what was written
        enc.write(labels, palette, path)
        assert np.array_equal(enc.decode(path), enc.expected(labels, palette))
    assert path.stat().st_size > 0
    if enc.k_range:  # a k the format cannot store is a one-line error naming the way out
        with pytest.raises(ConfigurationError) as err:
            enc.check_k(enc.k_range[1] + 1)
        assert "\n" not in str(err.value) and "use k in" in str(err.value)


# --- one source of truth -----------------------------------------------------------------------------------

@pytest.mark.parametrize("group", ["quantizer", "encoding"])
def test_yaml_repeats_its_class_defaults(group):
    """Each option's yaml lists its parameters at the class's defaults (the report's reference), except
    a preset: an option sharing its class with another, which changes the parameters it exists for."""
    by_class = {}
    for name in options(group):
        cfg = OmegaConf.to_container(node(group, name))
        by_class.setdefault(cfg.pop("_target_"), {})[name] = cfg
    for target, opts in by_class.items():
        obj = make(group, next(iter(opts)), **({"n_colors": 8} if group == "quantizer" else {}))
        defaults = default_params(obj)
        differs = {name: {p for p, v in cfg.items() if defaults.get(p, object()) != v} for name, cfg in opts.items()}
        canonical = [name for name, d in differs.items() if not d]
        assert canonical, f"no {group} option of {target} repeats its defaults: {differs}"
        unknown = {name: set(cfg) - set(defaults) for name, cfg in opts.items() if set(cfg) - set(defaults)}
        assert not unknown, f"yaml keys that are not parameters of {target}: {unknown}"


def test_readme_column_table_is_the_registry():
    readme = Path(__file__).resolve().parents[1] / "README.md"  # the checkout the tests run from
    text = readme.read_text(encoding="utf-8")
    assert columns.markdown_table() in text, "README's column table differs: paste the output of `kqbench columns`"


def _string_constants(path: Path):
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            yield n.value


@pytest.mark.parametrize("path", sorted((PACKAGE / "report").glob("*.py")) + [PACKAGE / "verify.py"],
                         ids=lambda p: p.name)
def test_no_report_module_names_an_option(path):
    """The report and verify know encodings and quantizers by what their classes say, never by option name."""
    names = set(options("quantizer")) | set(options("encoding"))
    named = {s for s in _string_constants(path) if s in names}
    named |= {m for s in _string_constants(path) for m in re.findall(r"`([a-z0-9_]+)`", s) if m in names}
    assert not named, f"{path.name} names options {sorted(named)}"


def test_only_the_entry_point_and_callbacks_import_hydra():
    allowed = {PACKAGE / "__main__.py", PACKAGE / "callbacks.py"}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in allowed or "conf" in path.relative_to(PACKAGE).parts:
            continue
        imports = set()
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.Import):
                imports |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module:
                imports.add(n.module.split(".")[0])
        assert not imports & {"hydra", "omegaconf"}, f"{path.relative_to(PACKAGE)} imports Hydra"


def test_every_column_a_row_can_have_is_declared():
    declared = set(columns.names())
    for group, cls_names in (("quantizer", options("quantizer")), ("encoding", options("encoding"))):
        for name in cls_names:
            obj = make(group, name, **({"n_colors": 8} if group == "quantizer" else {}))
            for col in describe(group, name, obj):
                assert col in declared or columns.column(col) is not None, col
    assert set(inspect.signature(columns.Column).parameters) >= {"name", "dtype", "scope", "meaning", "unit"}


def test_an_unknown_metric_is_a_one_line_error_naming_the_choices():
    with pytest.raises(ConfigurationError) as err:
        columns.check_metrics(["nosuch"])
    assert "\n" not in str(err.value) and "'nosuch'" in str(err.value) and "choose from" in str(err.value)
    optional = [c.name for c in columns.COLUMNS if c.optional]
    assert columns.check_metrics(optional) == tuple(optional)
    everything = {c.name for c in columns.quality_columns(optional)}
    assert {c.name for c in columns.quality_columns()} == everything - set(optional)
