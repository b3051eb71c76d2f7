"""k-means quantizers built on scikit-learn's estimators.

They differ only in which estimator they run and on what data: all pixels, a random
sample of them, mini-batches, or the distinct colours weighted by their pixel counts.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

from ._base import Quantizer


class KMeansQuantizer(Quantizer):
    """scikit-learn ``KMeans`` fitted on every pixel.

    The reference for quality: it minimises the pixel-weighted squared error over the whole
    image. ``n_init=10, max_iter=200`` reproduces the classic colour-quantization answer.

    Parameters
    ----------
    n_colors : int
        Number of clusters (k).
    n_init : int or "auto"
        Runs with different seeds; the best inertia wins.
    max_iter : int
        Lloyd iterations per run.
    init : {"k-means++", "random"}
        Seeding strategy.
    algorithm : {"lloyd", "elkan"}
        Passed to ``KMeans``.
    random_state : int or None
        Seed.
    """

    def __init__(self, n_colors=16, n_init="auto", max_iter=300, init="k-means++",
                 algorithm="lloyd", random_state=0):
        self.n_colors = n_colors
        self.n_init = n_init
        self.max_iter = max_iter
        self.init = init
        self.algorithm = algorithm
        self.random_state = random_state

    def _estimator(self, k):
        return KMeans(n_clusters=k, n_init=self.n_init, max_iter=self.max_iter, init=self.init,
                      algorithm=self.algorithm, random_state=self.random_state)

    def _fit_centres(self, pixels, colours, counts, k):
        return self._estimator(k).fit(pixels.astype(np.float32)).cluster_centers_


class SampledKMeansQuantizer(KMeansQuantizer):
    """``KMeans`` fitted on a random sample of pixels, then applied to all of them.

    scikit-learn's colour-quantization example does this (with 1,000 pixels). The sample is
    drawn with ``random_state``; images smaller than ``sample_size`` use every pixel.

    Parameters
    ----------
    sample_size : int
        Pixels drawn (without replacement) for fitting.
    Other parameters as in :class:`KMeansQuantizer`.
    """

    def __init__(self, n_colors=16, sample_size=10_000, n_init="auto", max_iter=300,
                 init="k-means++", algorithm="lloyd", random_state=0):
        super().__init__(n_colors=n_colors, n_init=n_init, max_iter=max_iter, init=init,
                         algorithm=algorithm, random_state=random_state)
        self.sample_size = sample_size

    def _fit_centres(self, pixels, colours, counts, k):
        rng = np.random.default_rng(self.random_state)
        if len(pixels) > self.sample_size:
            pixels = pixels[rng.choice(len(pixels), size=self.sample_size, replace=False)]
        # A sample may hold fewer distinct colours than k even when the image does not.
        k = min(k, len(np.unique(pixels, axis=0)))
        return self._estimator(k).fit(pixels.astype(np.float32)).cluster_centers_


class UniqueKMeansQuantizer(KMeansQuantizer):
    """``KMeans`` on the distinct colours, each weighted by its pixel count.

    Same objective as :class:`KMeansQuantizer` (the weighted sum of squared errors is the
    pixel sum), but on far fewer points when colours repeat.
    """

    def _fit_centres(self, pixels, colours, counts, k):
        est = self._estimator(k)
        return est.fit(colours.astype(np.float32), sample_weight=counts.astype(np.float32)).cluster_centers_


class MiniBatchKMeansQuantizer(Quantizer):
    """scikit-learn ``MiniBatchKMeans`` on every pixel.

    Parameters
    ----------
    n_colors : int
        Number of clusters (k).
    batch_size : int
        Pixels per mini-batch.
    n_init : int or "auto"
        Seeding runs.
    max_iter : int
        Passes over the data at most.
    init : {"k-means++", "random"}
        Seeding strategy.
    random_state : int or None
        Seed.
    """

    def __init__(self, n_colors=16, batch_size=4096, n_init="auto", max_iter=100,
                 init="k-means++", random_state=0):
        self.n_colors = n_colors
        self.batch_size = batch_size
        self.n_init = n_init
        self.max_iter = max_iter
        self.init = init
        self.random_state = random_state

    def _fit_centres(self, pixels, colours, counts, k):
        est = MiniBatchKMeans(n_clusters=k, batch_size=self.batch_size, n_init=self.n_init,
                              max_iter=self.max_iter, init=self.init, random_state=self.random_state)
        return est.fit(pixels.astype(np.float32)).cluster_centers_
