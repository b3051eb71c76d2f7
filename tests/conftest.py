import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo, downscaled to 96x64 so tests stay fast."""
    return np.asarray(Image.fromarray(load_sample_image("china.jpg")).resize((96, 64), Image.LANCZOS))


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory, photo) -> "Path":
    """A folder of small images: a photo (PNG and JPEG) and a flat two-colour icon."""
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(photo).save(folder / "photo.png")
    Image.fromarray(load_sample_image("flower.jpg")[100:148, 200:264]).save(folder / "flower.jpg", quality=90)
    icon = np.zeros((24, 32, 3), np.uint8)
    icon[6:18, 8:24] = (250, 120, 0)
    Image.fromarray(icon).save(folder / "icon.png")
    return folder


def pytest_configure(config):
    try:
        from importlib import resources

        resources.files("kqbench.conf").joinpath("config.yaml").read_text()
    except Exception as exc:  # the source tree alone has no kqbench.conf: configs ship when installed
        raise pytest.UsageError(f"kqbench is not installed ({exc}): run pip install '.[test]' first") from exc
    # (from an editable install, this puts the checkout's hydra_plugins where Hydra looks, so that a test
    # composing configs in this process finds kqbench's sweeper and launcher whatever ran before it)
    import kqbench.__main__  # noqa: F401
