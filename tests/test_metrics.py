import math

import numpy as np
import pytest

from kqbench.metrics import label_entropy, mse, psnr


def test_mse_hand_computed():
    a = np.array([[[0, 0, 0], [10, 20, 30]]], np.uint8)
    b = np.array([[[1, 2, 3], [10, 20, 30]]], np.uint8)
    # squared errors 1 + 4 + 9 over 6 channel values
    assert mse(a, b) == pytest.approx(14 / 6)


def test_mse_has_no_uint8_wraparound():
    a = np.zeros((1, 1, 3), np.uint8)
    b = np.full((1, 1, 3), 255, np.uint8)
    assert mse(a, b) == 255**2


def test_psnr():
    assert psnr(0.0) == math.inf
    assert psnr(255.0**2) == pytest.approx(0.0)
    assert psnr(mse(np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 1, np.uint8))) == pytest.approx(48.1308, abs=1e-4)


def test_label_entropy():
    assert label_entropy(np.zeros(16, int)) == 0.0
    assert label_entropy(np.arange(16) % 4) == pytest.approx(2.0)
    assert label_entropy(np.array([0, 0, 0, 1])) == pytest.approx(0.811278, abs=1e-6)
