"""FastKMeansQuantizer (kqbench's own k-means) and the reference quantizers (Pillow, libimagequant)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from sklearn.datasets import load_sample_image

from kqbench.errors import ConfigurationError, NotInstalledError
from kqbench.metrics import mse
from kqbench.quantizers import (
    FastKMeansQuantizer,
    KMeansQuantizer,
    LibimagequantQuantizer,
    PillowQuantizer,
    WuQuantizer,
    nearest_palette_index,
)
from kqbench.quantizers._base import clear_transparent, unique_colours
from kqbench.quantizers.colour import to_space
from kqbench.quantizers import fast


def _mse(image, palette, labels):
    return float(np.mean((image.reshape(-1, 3).astype(float) - palette[labels].astype(float)) ** 2))


def _gradient(h=64, w=64):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (h + w - 2)], axis=-1).astype(np.uint8)


IMAGES = {
    # Crops of the photos at half resolution: 128x128 and 96x96, plus a smooth gradient.
    "china": np.ascontiguousarray(load_sample_image("china.jpg")[::2, ::2][40:168, 60:188]),
    "flower": np.ascontiguousarray(load_sample_image("flower.jpg")[::2, ::2][50:146, 100:196]),
    "gradient": _gradient(),
}


def _check_labels(q, image):
    labels = q.predict(image)
    assert labels.shape == (image.shape[0] * image.shape[1],)
    assert labels.min() >= 0 and labels.max() < len(q.palette_)
    return labels


def test_fast_is_deterministic_for_a_seed():
    image = IMAGES["china"]
    a = FastKMeansQuantizer(16, random_state=3).fit(image)
    b = FastKMeansQuantizer(16, random_state=3).fit(image)
    np.testing.assert_array_equal(a.palette_, b.palette_)
    np.testing.assert_array_equal(a.predict(image), b.predict(image))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread here")
@pytest.mark.parametrize("k", [16, 256])
def test_fast_same_result_with_one_and_two_threads(k, monkeypatch):
    # Whole half-size photo: enough colours for many parallel work units in Lloyd's passes.
    # (Lloyd tries both ways in any case; the mapper only if threads paid off last time.)
    monkeypatch.setattr(fast._Pace, "threads_pay", {})
    image = np.ascontiguousarray(load_sample_image("china.jpg")[::2, ::2])
    one = FastKMeansQuantizer(k, n_threads=1).fit(image)
    two = FastKMeansQuantizer(k, n_threads=2).fit(image)
    np.testing.assert_array_equal(one.palette_, two.palette_)
    assert one.n_iter_ == two.n_iter_
    np.testing.assert_array_equal(one.predict(image), two.predict(image))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread here")
def test_one_thread_winning_on_a_small_fit_leaves_larger_fits_their_threads(monkeypatch):
    # A sweep's warm-up fits a 32x32 sample, where one thread may well beat two; a photo's fit after it
    # must still start its passes, and predict, with every thread (a 24 MP fit once ran on one thread).
    warm_up = 1024
    monkeypatch.setattr(fast._Pace, "threads_pay", {fast._size_class(warm_up): False})
    monkeypatch.setattr(fast._Pace, "clock", 1)  # no probe (a pass the other way) among the first passes
    lanes, assign = [], fast._assign_sums
    monkeypatch.setattr(fast, "_assign_sums", lambda C, tree, points, state, n: lanes.append(n) or
                        assign(C, tree, points, state, n))
    photo = IMAGES["china"]
    FastKMeansQuantizer(16, n_threads=2).fit(photo)
    assert lanes[:3] == [2, 2, 2]
    assert fast._Pace.outside(2, photo.shape[0] * photo.shape[1]) == 2
    assert fast._Pace.outside(2, warm_up) == 1  # where one thread won, it still does


def _fit_in_child(queue):
    q = FastKMeansQuantizer(16, n_threads=2).fit(IMAGES["china"])
    queue.put((q.palette_, q.predict(IMAGES["china"])))


@pytest.mark.skipif(not hasattr(os, "fork") or numba.config.NUMBA_NUM_THREADS < 2,
                    reason="no fork here, or numba allows a single thread")
def test_fast_threads_work_in_a_forked_child(monkeypatch):
    # The lanes' worker threads are started once per process: a child forked after they
    # started has none (only the parent's bookkeeping), and must start its own.
    monkeypatch.setattr(fast._Pace, "threads_pay", {})
    parent = FastKMeansQuantizer(16, n_threads=2).fit(IMAGES["china"])
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_fit_in_child, args=(queue,))
    child.start()
    palette, labels = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_array_equal(palette, parent.palette_)
    np.testing.assert_array_equal(labels, parent.predict(IMAGES["china"]))


# (the start of the scripts below, each run in a fresh process)
_SIGNATURES = """
import json
import numba
import numpy as np
from sklearn.datasets import load_sample_image
from kqbench.quantizers import fast, wu

def signatures(*modules):  # what this process has compiled or loaded from numba's cache, by function
    return {name: sorted(map(str, f.signatures)) for module in modules for name, f in vars(module).items()
            if isinstance(f, numba.core.registry.CPUDispatcher) and f.targetoptions.get("inline") != "always"}
"""

_AFTER_PRECOMPILE = _SIGNATURES + """
from numba.core import event

fast.precompile()
before = signatures(fast)
compiled = []

class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__name__)

    def on_end(self, ev):
        pass

event.register("numba:compile", Listener())
photo = load_sample_image("flower.jpg")
read_only = photo[::3, ::2]  # not contiguous and read-only
read_only.setflags(write=False)
large = np.tile(photo, (8, 1, 1))  # 2.2 MP: the colours counted in a table, not sorted
for image, k, threads, bits in ((photo, 256, 2, 6), (read_only, 16, 1, 5), (photo[:50], 64, None, 7),
                                (large, 16, 2, 6)):
    q = fast.FastKMeansQuantizer(k, n_threads=threads, bin_bits=bits, random_state=k).fit(image)
    q.predict(image)
rgba = np.dstack([photo[:120, :160], np.linspace(0, 255, 160, dtype=np.uint8)[None, :].repeat(120, 0)])
for image, k, threads, kwargs in ((photo, 64, 2, {"colour_space": "oklab"}),
                                  (read_only, 16, 1, {"colour_space": "lab"}),
                                  (photo, 32, 2, {"init": "wu"}),
                                  (read_only, 8, None, {"init": "wu", "colour_space": "lab"}),
                                  (rgba, 24, 2, {}), (rgba[::2, ::3], 7, 1, {"bin_bits": 7})):
    q = fast.FastKMeansQuantizer(k, n_threads=threads, **kwargs).fit(image)
    q.predict(image)
print(json.dumps({"before": before, "compiled": compiled, "after": signatures(fast)}))
"""


def test_precompile_leaves_nothing_to_compile(tmp_path):
    # In a fresh process (numba's cache may hold the code already or not: either way), after
    # precompile() a fit and predict on real images with other k, bin_bits, thread counts and
    # memory layouts, in Lab and Oklab, from Wu's palette and with transparency, compile nothing
    # more and load nothing more: same signatures, one each. (Run outside the checkout, so that it
    # imports the installed kqbench, as this process does, and not a second copy with a cache of its own.)
    out = subprocess.run([sys.executable, "-c", _AFTER_PRECOMPILE], capture_output=True, text=True, timeout=900,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["compiled"] == []
    assert result["after"] == result["before"]
    assert {"_merge_lane", "_emit_lane", "_leaves_lane", "_cells_above", "_kmeanspp", "_walk_lane"} <= set(result["before"])
    assert all(len(signatures) == 1 for signatures in result["before"].values()), result["before"]


_STAGE_BY_STAGE = _SIGNATURES + """

photo = load_sample_image("flower.jpg")
flat = np.zeros((40, 60, 3), np.uint8)
flat[:, 30:] = (200, 30, 90)
flat[10:20, 5:15] = (0, 0, 255)
large = np.tile(photo, (8, 1, 1))  # 2.2 MP
rgba = np.dstack([photo[:120, :160], np.linspace(0, 255, 160, dtype=np.uint8)[None, :].repeat(120, 0)])
large_rgba = np.dstack([large, np.full(large.shape[:2], 255, np.uint8)])
large_rgba[:40, :, 3], large_rgba[40:60, :, 3] = 0, 128  # still over 2**21 opaque pixels
# (parameters, image), in an order where each case may need one stage more than the cases before it
cases = [({}, photo), ({}, flat), ({}, photo[:30]), ({}, photo >> 5), ({}, rgba), ({}, large_rgba), ({}, large),
         ({"colour_space": "oklab"}, photo), ({"colour_space": "oklab"}, large),
         ({"colour_space": "oklab"}, photo[:2, :128]), ({"init": "wu"}, photo)]
report, done = [], set()
for params, image in cases:
    q = fast.FastKMeansQuantizer(16, **params)
    needs = q.compile_needs(image, len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)))  # (as a sweep)
    for stage in needs:
        if stage not in done:
            fast.precompile(stage)
            done.add(stage)
    before = signatures(fast, wu)
    q.fit(image).predict(image)
    after = signatures(fast, wu)
    report.append([params, list(needs), sorted(name for name in after if after[name] != before.get(name))])
print(json.dumps(report))
"""


def test_each_image_needs_only_the_stages_its_compile_needs_names(tmp_path):
    # A sweep's job waits for the background compile of the stages compile_needs(image) names, then
    # times its fit: in a fresh process, with those stages precompiled (loaded or compiled), a fit and
    # predict compile nothing more nor load anything more from numba's cache -- for photos, a few colours,
    # few pixels per centre, the inverse colour map, transparency (small, and a 2.2 MP image), a 2.2 MP image,
    # Oklab (large, and few pixels per centre, too) and Wu's init.
    out = subprocess.run([sys.executable, "-c", _STAGE_BY_STAGE], capture_output=True, text=True, timeout=900,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[-1])
    assert all(loaded == [] for _, _, loaded in report), report
    needs = [tuple(stages) for _, stages, _ in report]  # in the order of the script's cases
    rgb = ("fast-seed", "fast-rgb", "rgb-remap")
    assert needs[0] == rgb  # a 0.27 MP photo: RGB only, not what large or RGBA images need, nor Hartigan's moves
    assert needs[3] == (*rgb, "fast-hartigan")  # 16 < colours <= 16 x 16: Hartigan's moves follow Lloyd's
    assert needs[4] == ("fast-seed", "fast-rgb", "fast-hartigan", "fast-rgba")
    assert needs[5] == ("fast-seed", "fast-rgb", "fast-hartigan", "fast-large", "fast-rgba")  # its opaque pixels
    assert needs[6] == (*rgb, "fast-large")
    assert needs[8] == ("fast-seed", "fast-oklab", "fast-large")  # a large image in Oklab
    assert needs[9] == ("fast-seed", "fast-oklab", "fast-hartigan")  # 2 x 128 pixels: few colours a centre


def test_fast_leaves_numbas_thread_setting_alone():
    before = numba.get_num_threads()
    FastKMeansQuantizer(16, n_threads=1).fit(IMAGES["china"]).predict(IMAGES["china"])
    assert numba.get_num_threads() == before


def test_fast_seed_changes_the_seeding():
    image = IMAGES["china"]
    palettes = {FastKMeansQuantizer(16, random_state=s).fit(image).palette_.tobytes() for s in range(3)}
    assert len(palettes) > 1


@pytest.mark.parametrize("k", [2, 16, 64])
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_fast_error_close_to_sklearn_kmeans_on_all_pixels(name, k):
    image = IMAGES[name]
    fast = FastKMeansQuantizer(k).fit(image)
    ref = KMeansQuantizer(k, n_init=1).fit(image)
    labels = _check_labels(fast, image)
    assert len(fast.palette_) <= k
    assert _mse(image, fast.palette_, labels) <= 1.05 * _mse(image, ref.palette_, ref.predict(image))


def test_fast_k_above_distinct_colours_is_lossless():
    rng = np.random.default_rng(0)
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [10, 20, 30], [200, 200, 201]], np.uint8)
    image = colours[rng.integers(0, len(colours), (20, 30))]
    q = FastKMeansQuantizer(8).fit(image)
    assert sorted(map(tuple, q.palette_)) == sorted(map(tuple, colours))
    np.testing.assert_array_equal(q.palette_[_check_labels(q, image)], image.reshape(-1, 3))


def test_fast_single_colour_image():
    image = np.full((7, 9, 3), (12, 34, 56), np.uint8)
    for k in (1, 2, 16):
        q = FastKMeansQuantizer(k).fit(image)
        np.testing.assert_array_equal(q.palette_, [[12, 34, 56]])
        np.testing.assert_array_equal(_check_labels(q, image), 0)


def test_fast_k2_splits_two_clusters():
    rng = np.random.default_rng(1)
    dark = rng.integers(0, 30, (300, 3))
    light = rng.integers(220, 256, (200, 3))
    pixels = np.concatenate([dark, light]).astype(np.uint8)
    q = FastKMeansQuantizer(2).fit(pixels)
    assert len(q.palette_) == 2
    labels = _check_labels(q, pixels.reshape(-1, 1, 3))
    assert len(set(labels[:300])) == 1 and len(set(labels[300:])) == 1 and labels[0] != labels[-1]
    np.testing.assert_allclose(np.sort(q.palette_.mean(axis=1)), [np.mean(dark), np.mean(light)], atol=1)


def test_fast_k1_is_the_mean_colour():
    pixels = np.array([[0, 0, 0], [10, 20, 30], [20, 40, 60]], np.uint8)
    np.testing.assert_array_equal(FastKMeansQuantizer(1).fit(pixels).palette_, [[10, 20, 30]])


def test_fast_accepts_flat_and_read_only_pixels():
    image = IMAGES["flower"]
    flat = image.reshape(-1, 3).copy()
    flat.setflags(write=False)
    a = FastKMeansQuantizer(16).fit(image)
    b = FastKMeansQuantizer(16).fit(flat)
    np.testing.assert_array_equal(a.palette_, b.palette_)
    np.testing.assert_array_equal(a.predict(image), b.predict(flat))


@pytest.mark.parametrize("params", [{"n_colors": 0}, {"n_colors": 2.5}, {"bin_bits": 4}, {"n_threads": 0}])
def test_fast_rejects_bad_parameters(params):
    with pytest.raises(ValueError):
        FastKMeansQuantizer(**params).fit(IMAGES["gradient"])


def test_fast_predict_before_fit():
    with pytest.raises(RuntimeError):
        FastKMeansQuantizer(4).predict(IMAGES["gradient"])


@pytest.mark.parametrize("method", ["mediancut", "maxcoverage", "fastoctree"])
@pytest.mark.parametrize("k", [2, 16])
def test_pillow_quantizer(method, k):
    image = IMAGES["china"]
    q = PillowQuantizer(k, method=method).fit(image)
    assert 1 <= len(q.palette_) <= k
    assert len(np.unique(q.palette_, axis=0)) == len(q.palette_)
    _check_labels(q, image)


def test_pillow_quantizer_edge_cases():
    image = np.full((4, 4, 3), 9, np.uint8)
    np.testing.assert_array_equal(PillowQuantizer(2).fit(image).palette_, [[9, 9, 9]])
    with pytest.raises(ConfigurationError):
        PillowQuantizer(300).fit(IMAGES["china"])
    with pytest.raises(ValueError):
        PillowQuantizer(16, method="kmeans").fit(IMAGES["china"])


@pytest.mark.parametrize("k", [2, 16, 64])
def test_libimagequant_quantizer_works_or_is_not_installed(k):
    image = IMAGES["flower"]
    try:
        q = LibimagequantQuantizer(k).fit(image)
    except NotInstalledError:
        pytest.skip("imagequant is not installed")
    assert 1 <= len(q.palette_) <= k
    _check_labels(q, image)
    one = np.full((3, 5, 3), 200, np.uint8)
    np.testing.assert_array_equal(LibimagequantQuantizer(k).fit(one).palette_, [[200, 200, 200]])


def test_libimagequant_missing_raises_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "imagequant", None)  # makes "import imagequant" fail
    with pytest.raises(NotInstalledError, match="not installed"):
        LibimagequantQuantizer(16).fit(IMAGES["gradient"])


# --- other colour spaces, transparency, Wu's seeds -----------------------------------------------------------


def _space_mse(image, palette, labels, space):
    """Mean squared error over pixels and channels, in ``space`` coordinates."""
    pixels = image.reshape(-1, image.shape[-1])
    return float(np.mean((to_space(pixels, space) - to_space(palette, space)[labels]) ** 2))


def _rgba_image(h=48, w=64, seed=0):
    """A photo crop with an alpha ramp, a fully transparent band whose colours differ, and opaque pixels."""
    rgb = IMAGES["china"][:h, :w]
    alpha = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    alpha[:8] = 0
    alpha[-8:] = 255
    return np.ascontiguousarray(np.dstack([rgb, alpha]))


@pytest.mark.parametrize("k", [2, 16, 64])
@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("space", ["oklab", "lab"])
def test_fast_in_another_space_close_to_sklearn_kmeans_there(space, name, k):
    # Best of three seeds each: one k-means++ draw can end in a poor local optimum at small k (lab, flower,
    # k=2, seed 0: 1.6x the error of seeds 1-3, which agree with scikit-learn's to 1e-4).
    image = IMAGES[name]
    ours, theirs = [], []
    for seed in range(3):
        fast = FastKMeansQuantizer(k, colour_space=space, random_state=seed).fit(image)
        ref = KMeansQuantizer(k, n_init=1, colour_space=space, random_state=seed).fit(image)
        assert len(fast.palette_) <= k and fast.scale_ > 1
        ours.append(_space_mse(image, fast.palette_, _check_labels(fast, image), space))
        theirs.append(_space_mse(image, ref.palette_, ref.predict(image), space))
    assert min(ours) <= 1.05 * min(theirs)


@pytest.mark.parametrize("k", [2, 8, 64])
def test_fast_with_transparency_close_to_sklearn_kmeans(k):
    image = _rgba_image()
    q = FastKMeansQuantizer(k).fit(image)
    ref = KMeansQuantizer(k).fit(image)
    labels = _check_labels(q, image)
    assert q.palette_.shape[1] == 4 and len(q.palette_) <= k
    ours = mse(image, q.palette_[labels].reshape(image.shape))
    assert ours <= 1.05 * mse(image, ref.palette_[ref.predict(image)].reshape(image.shape))
    # Every fully transparent pixel, whatever its RGB, is the point (0, 0, 0, 0): one label.
    hidden = image.reshape(-1, 4)[:, 3] == 0
    assert len(set(labels[hidden])) == 1 and len(set(map(tuple, image.reshape(-1, 4)[hidden]))) > 100


def test_fast_with_transparency_and_few_colours_is_lossless_like_the_base_class():
    colours = np.array([[0, 0, 0, 0], [9, 9, 9, 0], [255, 0, 0, 128], [10, 20, 30, 255], [200, 200, 201, 7]], np.uint8)
    image = colours[np.random.default_rng(0).integers(0, len(colours), (20, 30))]
    q = FastKMeansQuantizer(8).fit(image)
    np.testing.assert_array_equal(q.palette_, KMeansQuantizer(8).fit(image).palette_)
    assert len(q.palette_) == 4  # the two fully transparent colours are one
    np.testing.assert_array_equal(mse(image, q.palette_[q.predict(image)].reshape(image.shape)), 0.0)


@pytest.mark.parametrize("space", ["oklab", "lab"])
@pytest.mark.parametrize("m", [1, 2, 7, 256])
def test_predict_in_another_space_is_exact(space, m):
    # Palettes at random, pixels at random and from a photo: the labels are those of the brute-force search
    # in that space (float64, ties to the lower index), as the base class's predict gives them.
    rng = np.random.default_rng(m)
    pixels = np.concatenate([rng.integers(0, 256, (5000, 3)), IMAGES["china"].reshape(-1, 3)]).astype(np.uint8)
    palette = np.unique(rng.integers(0, 256, (m, 3)).astype(np.uint8), axis=0)
    q = FastKMeansQuantizer(colour_space=space)
    q.palette_ = palette[rng.permutation(len(palette))]
    np.testing.assert_array_equal(q.predict(pixels), nearest_palette_index(q.palette_, pixels, space))
    fitted = FastKMeansQuantizer(m, colour_space=space).fit(IMAGES["flower"])
    np.testing.assert_array_equal(fitted.predict(pixels), nearest_palette_index(fitted.palette_, pixels, space))


@pytest.mark.parametrize("m", [1, 2, 7, 256])
def test_predict_with_transparency_is_exact(m):
    rng = np.random.default_rng(m)
    pixels = np.concatenate([rng.integers(0, 256, (5000, 4)), _rgba_image().reshape(-1, 4)]).astype(np.uint8)
    pixels[rng.random(len(pixels)) < 0.1, 3] = 0  # fully transparent, with colours
    palette = clear_transparent(rng.integers(0, 256, (m, 4)).astype(np.uint8))
    palette = palette[np.sort(np.unique(palette, axis=0, return_index=True)[1])]
    q = FastKMeansQuantizer()
    q.palette_ = palette
    np.testing.assert_array_equal(q.predict(pixels), nearest_palette_index(palette, pixels))
    fitted = FastKMeansQuantizer(m).fit(pixels)
    np.testing.assert_array_equal(fitted.predict(pixels), nearest_palette_index(fitted.palette_, pixels))


@pytest.mark.parametrize("m", [7, 256])
def test_large_images_with_transparency_count_their_opaque_pixels_in_tables(m, monkeypatch):
    # From COMPILED_PIXELS opaque pixels on, the colours are counted in three parts by alpha (the opaque ones
    # in compiled tables, the fully transparent ones as one colour, the others by numpy's sort): the same
    # colours, counts, palette and labels as numpy's sort of the whole image. (Lowered here to a small image.)
    rng = np.random.default_rng(m)
    pixels = np.concatenate([IMAGES["china"].reshape(-1, 3), rng.integers(0, 256, (5000, 3), dtype=np.uint8)])
    pixels = np.hstack([pixels, np.full((len(pixels), 1), 255, np.uint8)])
    pixels[rng.random(len(pixels)) < 0.2, 3] = 0  # fully transparent, with colours
    part = rng.random(len(pixels)) < 0.05
    pixels[part, 3] = rng.integers(1, 255, np.count_nonzero(part))
    whole = FastKMeansQuantizer(m, random_state=3).fit(pixels)
    monkeypatch.setattr(fast, "COMPILED_PIXELS", 1000)
    assert len(fast._rgba_parts(pixels, 2)) == 3
    colours, counts = fast._rgba_colours(pixels, 2)
    expected = unique_colours(clear_transparent(pixels))
    np.testing.assert_array_equal(colours, expected[0])
    np.testing.assert_array_equal(counts, expected[1])
    parts = FastKMeansQuantizer(m, random_state=3).fit(pixels)
    np.testing.assert_array_equal(parts.palette_, whole.palette_)
    labels = parts.predict(pixels)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, nearest_palette_index(parts.palette_, pixels))


def test_predict_ties_in_another_space_go_to_the_lower_index():
    palette = np.array([[10, 10, 10], [200, 0, 0], [10, 10, 10]], np.uint8)  # equal entries: the first wins
    q = FastKMeansQuantizer(colour_space="oklab")
    q.palette_ = palette
    np.testing.assert_array_equal(q.predict(np.array([[10, 10, 10], [12, 12, 12]], np.uint8)), [0, 0])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread here")
@pytest.mark.parametrize("kwargs", [{"colour_space": "oklab"}, {"init": "wu"}, {"alpha": True}, {"coarse": True}],
                         ids=["oklab", "wu", "rgba", "coarse-to-fine"])
def test_fast_same_result_with_one_and_two_threads_in_every_mode(kwargs, monkeypatch):
    monkeypatch.setattr(fast._Pace, "threads_pay", {})
    if kwargs.pop("coarse", False):  # Lloyd on the cubes of side 2 first, as on large photos
        monkeypatch.setattr(fast, "_TABLE_PIXELS", 0)
        monkeypatch.setattr(fast, "_COLOURS_PER_CUBE", 0)
    image = np.ascontiguousarray(load_sample_image("china.jpg")[::2, ::2])
    if kwargs.pop("alpha", False):
        image = np.dstack([image, np.tile(np.linspace(0, 255, image.shape[1]).astype(np.uint8), (image.shape[0], 1))])
    one = FastKMeansQuantizer(64, n_threads=1, **kwargs).fit(image)
    two = FastKMeansQuantizer(64, n_threads=2, **kwargs).fit(image)
    np.testing.assert_array_equal(one.palette_, two.palette_)
    assert one.n_iter_ == two.n_iter_
    np.testing.assert_array_equal(one.predict(image), two.predict(image))


@pytest.mark.parametrize("kwargs", [{}, {"colour_space": "oklab"}, {"init": "wu"}, {"alpha": True}, {"coarse": True}],
                         ids=["rgb", "oklab", "wu", "rgba", "coarse-to-fine"])
def test_fast_error_never_rises(kwargs, monkeypatch):
    # Every assignment pass of Lloyd's loop, recorded as (error at its centres, error at its means), and
    # its decisions replayed: an over-relaxed step is kept only if it lowers the error, and the plain
    # step from the same means that replaces it never raises it. The sums are exact integers (fixed
    # point outside RGB), so the errors are exact but for the final rounding: 1e-12 of allowance.
    # Coarse to fine: the passes on the cubes of side 2, then on the colours from the cubes' means,
    # whose first assignment lowers the error again.
    if kwargs.pop("coarse", False):
        monkeypatch.setattr(fast, "_TABLE_PIXELS", 0)
        monkeypatch.setattr(fast, "_COLOURS_PER_CUBE", 0)
    calls = []
    assign = fast._assign_sums

    def recording(*args):
        err, M, err_m, work = assign(*args)
        calls.append((err, err_m))
        return err, M, err_m, work

    monkeypatch.setattr(fast, "_assign_sums", recording)
    image = _rgba_image(128, 128) if kwargs.pop("alpha", False) else IMAGES["china"]
    q = FastKMeansQuantizer(32, tol=0, max_iter=60, **kwargs).fit(image)
    assert len(calls) == q.n_iter_ > 5
    slack = 1 + 1e-12
    current = calls[0][1]  # the error at the first means
    i, plain = 1, 0
    while i < len(calls):
        err, err_m = calls[i]
        assert err_m <= err * slack  # the means of an assignment are its best centres
        if err < current:  # the over-relaxed step is kept
            i += 1
        elif i + 1 < len(calls):  # not kept: the plain step, from the means of the last kept assignment
            err, err_m = calls[i + 1]
            assert err <= current * slack and err_m <= err * slack
            i, plain = i + 2, plain + 1
        else:
            break
        assert err_m <= current * slack
        current = err_m
    assert 0 < current < calls[0][1]


def _few_colours_image(alpha, seed=0):
    """400 distinct colours, pixel counts from 1 to a few hundred: few colours per centre at k=64."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (400, 4 if alpha else 3), dtype=np.uint8)
    if alpha:
        colours[:, 3] = np.maximum(colours[:, 3], 1)  # no two colours merged by full transparency
    pixels = np.repeat(colours, rng.zipf(1.5, len(colours)).clip(1, 300), axis=0)
    return pixels[rng.permutation(len(pixels))]


@pytest.mark.parametrize("alpha", [False, True], ids=["rgb", "rgba"])
def test_fast_with_few_colours_per_centre_beats_lloyds_fixed_point(alpha, monkeypatch):
    # With at most 16 distinct colours per centre, Hartigan's single-colour moves follow Lloyd's
    # iterations: they start from Lloyd's result and every move lowers the error, so the error
    # is never above Lloyd's alone, and on such images clearly below (logo2 of alpha_samples at
    # k=256 was 2.6% above scikit-learn's KMeans with Lloyd's alone).
    def error(pixels, q):
        return mse(pixels[None], q.palette_[q.predict(pixels)][None])

    ours, lloyds = [], []
    for seed in range(3):
        pixels = _few_colours_image(alpha, seed)
        ours.append(error(pixels, FastKMeansQuantizer(64, random_state=seed).fit(pixels)))
        with monkeypatch.context() as m:
            m.setattr(fast, "_HARTIGAN_COLOURS_PER_CENTRE", 0)
            lloyds.append(error(pixels, FastKMeansQuantizer(64, random_state=seed).fit(pixels)))
    assert all(a <= 1.001 * b for a, b in zip(ours, lloyds))  # (1e-3: the palette's rounding to uint8)
    assert sum(ours) < 0.98 * sum(lloyds)


def test_hartigan_moves_end_where_no_single_colour_move_lowers_the_error():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 50, (300, 3)).astype(np.float64)
    w = rng.integers(1, 20, 300).astype(np.float64)
    C = X[rng.choice(300, 30, replace=False)]
    M, lab, passes = fast._hartigan(C, X, w, 1000)
    assert passes < 1000
    W = np.bincount(lab, w, len(C))
    mean = np.stack([np.bincount(lab, w * X[:, c], len(C)) for c in range(3)], 1) / np.maximum(W, 1)[:, None]
    np.testing.assert_allclose(M[W > 0], mean[W > 0])
    # Below the error of the nearest assignment to C (where the moves started).
    start = ((X[:, None, :] - C[None]) ** 2).sum(-1).min(1) @ w
    assert ((X - mean[lab]) ** 2).sum(1) @ w < start
    # Hartigan's test: moving any one colour to another cluster, both means updated, would not
    # lower the error (but for rounding).
    for p in range(len(X)):
        a = lab[p]
        if W[a] > w[p]:
            leave = w[p] * W[a] / (W[a] - w[p]) * ((X[p] - mean[a]) ** 2).sum()
            join = w[p] * W / (W + w[p]) * ((X[p] - mean) ** 2).sum(1)
            join[a] = np.inf
            assert join.min() >= leave * (1 - 1e-6)


@pytest.mark.parametrize("bin_bits", [5, 6, 7])
def test_colour_histogram_is_every_colour_once_with_its_count_whatever_the_lanes(bin_bits):
    # Two lanes count 2**21 pixels (each in a table of its own); their counts added up, the
    # colours come out as numpy counts them, in bins in Morton order, the cubes of side 2 in runs;
    # the counting sort of smaller images gives the same bins and colours.
    photo = load_sample_image("china.jpg")
    pixels = np.ascontiguousarray(np.concatenate([photo, photo[::-1, ::-1] // 3] * 4).reshape(-1, 3)[:1 << 21])
    one, two = (fast._colour_histogram(pixels, bin_bits, n) for n in (1, 2))
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    expected, expected_counts = np.unique(pixels, axis=0, return_counts=True)
    for colours, counts, bin_key, bin_start in (two[:4], fast._sorted_histogram(pixels, bin_bits)):
        order = np.lexsort(colours.T[::-1])
        np.testing.assert_array_equal(colours[order], expected)
        np.testing.assert_array_equal(counts[order], expected_counts)
        np.testing.assert_array_equal(bin_key, two[2])
        np.testing.assert_array_equal(bin_start, two[3])
    colours, counts, bin_key, bin_start, cube_start = two
    assert np.all(np.diff(bin_key) > 0)
    for start, side_bits in ((bin_start, 8 - bin_bits), (cube_start, 1)):
        cube = colours.astype(np.int64) >> side_bits
        firsts = np.zeros(len(colours), bool)
        firsts[start[:-1]] = True  # a new bin or cube starts exactly where the colour's cube changes
        np.testing.assert_array_equal(firsts[1:], np.any(cube[1:] != cube[:-1], axis=1))
        assert start[0] == 0 and start[-1] == len(colours)


@pytest.mark.parametrize("lanes", [2, 3, 7])
@pytest.mark.parametrize("groups", ["colours", "cubes"])
def test_points_tree_is_the_same_whatever_the_lanes(monkeypatch, groups, lanes):
    # The bins and their points are made by lanes, each on its own range of bins (cut between
    # bins, some lanes maybe empty); the tree and the points are those of one lane, bit for bit.
    photo = load_sample_image("china.jpg")
    pixels = np.ascontiguousarray(np.concatenate([photo, photo[::-1, ::-1] // 3] * 4).reshape(-1, 3)[:1 << 21])
    colours, counts, bin_key, bin_start, cubes = fast._colour_histogram(pixels, 6)
    group_start = cubes if groups == "cubes" else np.arange(len(colours) + 1)
    X = colours.astype(np.float64)
    one = fast._points_tree(X, counts, group_start, bin_key, bin_start, 6)
    monkeypatch.setattr(fast, "_TREE_LANE_COLOURS", 1000)
    many = fast._points_tree(X, counts, group_start, bin_key, bin_start, 6, lanes)
    for a, b in zip([*one[0], *one[1:]], [*many[0], *many[1:]]):
        np.testing.assert_array_equal(a, b)


def test_space_bins_are_cubes_of_the_space_in_morton_order():
    # The Lab/Oklab octree's bins: whole-number coordinates sorted into power-of-two cubes, 2**bits
    # of them across the widest axis, bins in Morton order, each a contiguous range, rows of equal
    # key in their original order (the sort is stable).
    rng = np.random.default_rng(0)
    X = np.stack([rng.integers(-3000, 5000, 5000), rng.integers(0, 900, 5000), rng.integers(7, 2000, 5000)], 1)
    X = X.astype(np.float64)
    order, bin_key, bin_start = fast._space_bins(X, 7)
    assert sorted(order) == list(range(len(X))) and bin_start[0] == 0 and bin_start[-1] == len(X)
    side = 64  # 8000 wide / 128 bins, rounded up to a power of two
    cell = ((X[order] - X.min(0)) // side).astype(np.int64)
    assert cell.max() < 128 and cell[:, 0].max() >= 64
    key = sum(((cell[:, c, None] >> np.arange(7)) & 1) << (3 * np.arange(7) + 2 - c) for c in range(3)).sum(1)
    assert (np.diff(key) >= 0).all() and (np.diff(bin_key) > 0).all()
    np.testing.assert_array_equal(np.repeat(bin_key, np.diff(bin_start)), key)
    for b in range(len(bin_key)):  # stable: original order within a bin
        assert (np.diff(order[bin_start[b]:bin_start[b + 1]]) > 0).all()


def test_fast_wu_init_starts_from_wus_palette_and_improves_it():
    image = IMAGES["china"]
    wu = WuQuantizer(16).fit(image)
    q = FastKMeansQuantizer(16, init="wu").fit(image)
    assert _mse(image, q.palette_, q.predict(image)) < 0.95 * _mse(image, wu.palette_, wu.predict(image))
    # Seeds are Wu's palette, whatever the seed.
    np.testing.assert_array_equal(q.palette_, FastKMeansQuantizer(16, init="wu", random_state=5).fit(image).palette_)
    # Fewer Wu boxes than k (few occupied cells): k-means++ draws the rest.
    few = np.repeat(np.arange(40, dtype=np.uint8)[:, None], 3, axis=1)  # 40 greys in 5 cells of side 8
    assert len(FastKMeansQuantizer(20, init="wu").fit(few).palette_) == 20


def test_fast_what_takes_alpha_and_what_does_not():
    rgba = _rgba_image()
    assert FastKMeansQuantizer().takes_alpha
    for params, words in (({"init": "wu"}, "init=kmeans"), ({"colour_space": "oklab"}, "colour_space=rgb")):
        assert not FastKMeansQuantizer(**params).takes_alpha
        with pytest.raises(ConfigurationError, match=words):
            FastKMeansQuantizer(8, **params).fit(rgba)
    with pytest.raises(ValueError, match="channels"):
        FastKMeansQuantizer(8).fit(IMAGES["china"]).predict(rgba)


@pytest.mark.parametrize("params", [{"init": "random"}, {"colour_space": "hsv"}])
def test_fast_rejects_bad_init_and_colour_space(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        FastKMeansQuantizer(**params).fit(IMAGES["gradient"])


def test_fixed_point_sums_stay_exact_for_huge_images():
    # Oklab colours of 0.3 MP, 24 MP and 10**10 pixels: integers whose weighted sum of squared norms stays
    # below 2**52 (so every partial sum Lloyd keeps is exact in float64), at a scale that keeps detail.
    coords = to_space(IMAGES["china"].reshape(-1, 3)[:1000], "oklab")
    for pixels, finest in ((300_000, 2.0**16), (24_000_000, 2.0**13), (10**10, 2.0**8)):
        counts = np.full(1000, pixels // 1000, np.int64)
        scale, X = fast._fixed_point(coords, counts)
        assert np.array_equal(X, np.rint(X)) and float(counts @ (X**2).sum(axis=1)) < 2.0**52
        assert scale >= finest
