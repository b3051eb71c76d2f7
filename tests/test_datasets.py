import numpy as np
import pytest

from kqbench.datasets import ImageFolder, PaletteSamples, SampleImages, SyntheticImages
from kqbench.encoders import png_header
from kqbench.errors import ConfigurationError


def test_bundled_photos_load_without_network():
    photos = {s.name: s.load() for s in SampleImages(kinds=())}
    assert set(photos) == {"china", "flower", "grace_hopper"}
    for img in photos.values():
        assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.original_bytes > 10_000


def test_generated_images_are_deterministic_and_distinct():
    a = [s.loader() for s in SyntheticImages(width=40, height=30)]
    b = [s.loader() for s in SyntheticImages(width=40, height=30)]
    assert [x.name for x in a] == ["gradient", "flat", "noise"]
    assert all(np.array_equal(x.rgb, y.rgb) for x, y in zip(a, b))
    assert len(np.unique(a[1].rgb.reshape(-1, 3), axis=0)) <= 12  # flat illustration: few colours
    assert a[0].digest != a[2].digest


def test_palette_original_is_a_real_palette_png(tmp_path):
    (img,) = [s.load() for s in PaletteSamples(photos=["flower"], colours=256, directory=tmp_path)]
    assert img.original_mode == "P"
    header = png_header(img.source)
    assert header["colour_type"] == "palette" and header["bit_depth"] == 8
    assert img.original_bytes == (tmp_path / "flower_256colours.png").stat().st_size
    assert len(np.unique(img.rgb.reshape(-1, 3), axis=0)) <= 256


def test_folder_records_mode_and_size(image_folder):
    imgs = {s.name: s.load() for s in ImageFolder(str(image_folder))}
    assert set(imgs) == {"photo", "flower", "icon"}
    assert imgs["flower"].original_bytes == (image_folder / "flower.jpg").stat().st_size


@pytest.mark.parametrize("path, message", [(None, "dataset.path=DIR"), ("/no/such/dir", "not a folder")])
def test_folder_errors_say_what_to_do(path, message):
    with pytest.raises(ConfigurationError, match=message):
        list(ImageFolder(path))


def test_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ConfigurationError, match="no image files"):
        list(ImageFolder(str(tmp_path)))


def test_a_study_set_is_varied_deterministic_and_readable(tmp_path):
    from kqbench.datasets import ImageFolder, study_image, write_study

    paths = write_study(tmp_path, 20, seed=3)
    assert len(paths) == 20 and {p.suffix for p in paths} == {".png", ".jpg"}
    images = [s.load() for s in ImageFolder(str(tmp_path))]
    sizes = {im.rgb.shape[:2] for im in images}
    assert len(sizes) >= 15 and all(8 <= min(s) and max(s) <= 480 for s in sizes)  # varied, small
    name, pixels, fmt = study_image(7, seed=3)
    again = study_image(7, seed=3)
    assert (name, fmt) == again[::2] and np.array_equal(pixels, again[1])  # deterministic
    assert not np.array_equal(pixels, study_image(7, seed=4)[1])
