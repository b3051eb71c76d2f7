import numpy as np
import pytest

from kqbench.quantizers import (
    KMeansQuantizer,
    MiniBatchKMeansQuantizer,
    SampledKMeansQuantizer,
    UniqueKMeansQuantizer,
)

ALL = [KMeansQuantizer, SampledKMeansQuantizer, UniqueKMeansQuantizer, MiniBatchKMeansQuantizer]


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("k", [2, 16, 64])
def test_palette_at_most_k_and_labels_index_it(cls, k, photo):
    q = cls(n_colors=k, random_state=0).fit(photo)
    labels = q.predict(photo)
    assert q.palette_.dtype == np.uint8 and q.palette_.shape[1] == 3
    assert 1 <= len(q.palette_) <= k
    assert len(np.unique(q.palette_, axis=0)) == len(q.palette_)  # distinct colours
    assert labels.shape == (photo.shape[0] * photo.shape[1],)
    assert labels.min() >= 0 and labels.max() < len(q.palette_)


@pytest.mark.parametrize("cls", ALL)
def test_each_pixel_gets_its_nearest_palette_colour(cls, photo):
    q = cls(n_colors=8, random_state=0).fit(photo)
    pixels = photo.reshape(-1, 3).astype(np.int64)
    d = ((pixels[:, None, :] - q.palette_[None, :, :].astype(np.int64)) ** 2).sum(-1)
    assert np.array_equal(d[np.arange(len(pixels)), q.predict(photo)], d.min(1))


@pytest.mark.parametrize("cls", ALL)
def test_k_above_distinct_colours_keeps_the_image_exact(cls):
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [10, 20, 30], [200, 200, 200]], np.uint8)
    img = colours[np.arange(40 * 30).reshape(40, 30) % 5]
    q = cls(n_colors=64).fit(img)
    assert len(q.palette_) == 5
    assert np.array_equal(q.palette_[q.predict(img)].reshape(img.shape), img)


@pytest.mark.parametrize("cls", ALL)
def test_single_colour_image(cls):
    img = np.full((10, 12, 3), 77, np.uint8)
    q = cls(n_colors=16).fit(img)
    assert q.palette_.tolist() == [[77, 77, 77]]
    assert set(q.predict(img)) == {0}


@pytest.mark.parametrize("cls", ALL)
def test_same_seed_same_palette(cls, photo):
    a = cls(n_colors=16, random_state=3).fit(photo).palette_
    b = cls(n_colors=16, random_state=3).fit(photo).palette_
    assert np.array_equal(a, b)


def test_the_questions_setting_is_expressible(photo):
    q = KMeansQuantizer(n_colors=64, n_init=10, max_iter=200).fit(photo)
    assert q.get_params()["n_init"] == 10 and q.get_params()["max_iter"] == 200
    assert len(q.palette_) <= 64


def test_weighted_unique_matches_full_kmeans_quality(photo):
    """Same objective on less data: the MSE of both should be close."""
    def mse(q):
        return ((q.palette_[q.predict(photo)] - photo.reshape(-1, 3).astype(float)) ** 2).mean()

    full = mse(KMeansQuantizer(n_colors=16, n_init=3).fit(photo))
    unique = mse(UniqueKMeansQuantizer(n_colors=16, n_init=3).fit(photo))
    assert unique <= 1.05 * full


@pytest.mark.parametrize("k", [0, -3, "abc", 2.5])
def test_bad_k_is_a_clear_error(k, photo):
    with pytest.raises(ValueError, match="whole number"):
        KMeansQuantizer(n_colors=k).fit(photo)


def _large_photo() -> np.ndarray:
    """china.jpg eight times over (3416 x 640, 2.2 MP): above the size where predict remaps with compiled code."""
    from sklearn.datasets import load_sample_image

    from kqbench.quantizers._base import COMPILED_PIXELS

    photo = load_sample_image("china.jpg")
    image = np.ascontiguousarray(np.vstack([photo, photo[::-1] // 2, photo[:, ::-1], photo[::-1, ::-1] // 3] * 2))
    assert image.shape[0] * image.shape[1] >= COMPILED_PIXELS
    return image


def test_a_large_images_labels_are_numpys_exact_nearest_colours():
    # Past COMPILED_PIXELS the base class's predict hands the search to compiled code (numpy's sorts
    # the pixels: seconds and hundreds of MB at 24 MP); every label stays the nearest colour, ties lowest.
    from kqbench.quantizers import nearest_palette_index

    image = _large_photo()
    q = SampledKMeansQuantizer(n_colors=64, random_state=0).fit(image)
    palette = np.vstack([q.palette_, q.palette_[:3]])  # repeated colours: ties go to the first of them
    q.palette_ = palette
    labels = q.predict(image)
    np.testing.assert_array_equal(labels, nearest_palette_index(palette, image.reshape(-1, 3)))
    assert labels.max() < len(q.palette_) - 3


def test_only_a_large_opaque_image_needs_the_compiled_count_and_remap():
    from kqbench.quantizers.wu import WuQuantizer

    image = _large_photo()
    rgba = np.dstack([image, np.full(image.shape[:2], 128, np.uint8)])
    assert KMeansQuantizer(16).compile_needs(image) == ("rgb-remap", "fast-large")
    assert KMeansQuantizer(16).compile_needs(image[:100]) == ()
    assert KMeansQuantizer(16).compile_needs(rgba) == ()
    assert KMeansQuantizer(16, colour_space="oklab").compile_needs(image) == ("fast-oklab", "fast-large")
    assert KMeansQuantizer(16).compile_needs() == ()  # a sweep does not compile it ahead
    assert WuQuantizer(16).compile_needs(image) == ("wu",)  # its own predict


def test_a_large_images_count_and_remap_are_compiled_before_the_timed_calls(monkeypatch):
    # quantize() loads the code only a large image uses (here the colour count and the remap) before it starts
    # timing: the first large image of a process would otherwise have numba's cache load, or a compile, in its
    # fit_s and assign_s.
    from kqbench import measure
    from kqbench.datasets import SourceImage

    image = _large_photo()
    events = []
    cls = SampledKMeansQuantizer
    compile_ahead, timing = cls.compile_ahead.__func__, measure.median_time
    monkeypatch.setattr(cls, "compile_ahead", classmethod(lambda c, stage=None: (events.append(("compile", stage)),
                                                                                 compile_ahead(c, stage))[1]))
    monkeypatch.setattr(measure, "median_time", lambda *args, **kw: (events.append("timed"), timing(*args, **kw))[1])
    measure.quantize(SourceImage("large", image, "RGB", image.nbytes, "test:large"), cls(n_colors=16, random_state=0))
    assert events.index(("compile", "rgb-remap")) < events.index("timed")
    assert events.index(("compile", "fast-large")) < events.index("timed")


def test_a_sweep_gives_libimagequant_the_image_not_a_row_of_its_pixels(photo):
    # libimagequant weighs each pixel by its neighbourhood: fitted on the same pixels as one row it makes
    # another palette. A sweep's quantization is the one of the image.
    pytest.importorskip("imagequant")
    from kqbench.datasets import SourceImage
    from kqbench.measure import quantize
    from kqbench.quantizers import LibimagequantQuantizer

    image, one_row = LibimagequantQuantizer(16).fit(photo), LibimagequantQuantizer(16).fit(photo.reshape(-1, 3))
    assert not np.array_equal(image.palette_, one_row.palette_)
    swept = quantize(SourceImage("photo", photo, "RGB", photo.nbytes, "test:photo"), LibimagequantQuantizer(16))
    assert {tuple(c) for c in swept.palette} <= {tuple(c) for c in image.palette_}


@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_large_images_colours_are_counted_as_numpy_counts_them(n_threads):
    # Past COMPILED_PIXELS the base class's fit counts the colours in compiled tables, not with numpy's sort:
    # the same colours in the same order (0xRRGGBB ascending), the same counts, so the same palettes.
    from kqbench.quantizers._base import unique_colours
    from kqbench.quantizers.fast import table_colours

    pixels = _large_photo().reshape(-1, 3).copy()
    pixels[:300_000] = (10, 200, 30)  # one colour on more pixels than a 16-bit count holds
    colours, counts, inverse = table_colours(pixels, n_threads=n_threads, return_inverse=True)
    expected_colours, expected_counts, expected_inverse = unique_colours(pixels, return_inverse=True)
    np.testing.assert_array_equal(colours, expected_colours)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(inverse, expected_inverse)  # (Lab and Oklab fits: each pixel's coordinates)
    np.testing.assert_array_equal(table_colours(pixels, n_threads=n_threads)[1], expected_counts)


@pytest.mark.parametrize("space", ["oklab", "lab"])
def test_a_large_image_in_another_colour_space_quantizes_as_numpy_does(space, monkeypatch):
    # Past COMPILED_PIXELS a fit in Lab or Oklab counts the colours and finds each pixel's coordinates in
    # compiled tables, and predict searches the nearest colour in that space with fast's compiled search
    # (numpy's sorts: 4.4 + 5.1 s and 0.9 GB at 24 MP): the same palette, the same labels.
    from kqbench.quantizers import _base

    image = _large_photo()
    compiled = SampledKMeansQuantizer(n_colors=32, random_state=0, colour_space=space).fit(image)
    labels = compiled.predict(image)
    monkeypatch.setattr(_base, "COMPILED_PIXELS", image.shape[0] * image.shape[1] + 1)  # numpy's way
    numpys = SampledKMeansQuantizer(n_colors=32, random_state=0, colour_space=space).fit(image)
    np.testing.assert_array_equal(compiled.palette_, numpys.palette_)
    np.testing.assert_array_equal(labels, numpys.predict(image))
    assert labels.dtype == np.uint8
