"""k-means quantizers built on scikit-learn's estimators.

They differ only in which estimator they run and on what data: all pixels, a random
sample of them, mini-batches, the distinct colours weighted by their pixel counts, or a
bisecting (divisive) k-means. Every one clusters in ``colour_space`` (``rgb``, ``lab`` or
``oklab``; see :class:`kqbench.quantizers.Quantizer`), and assigns pixels in that space.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import BisectingKMeans, KMeans, MiniBatchKMeans

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
        Seeding strategy: k-means++ (spread-out seeds, drawn with probability proportional
        to the squared distance to the seeds so far) or k random points.
    algorithm : {"lloyd", "elkan"}
        Passed to ``KMeans``: the classic iterations, or Elkan's (triangle inequality; same
        result, more memory).
    random_state : int or None
        Seed.
    colour_space : {"rgb", "lab", "oklab"}
        Space the clustering (and the pixel assignment) measures distances in.
    """

    rank = 10

    def __init__(self, n_colors=16, n_init="auto", max_iter=300, init="k-means++",
                 algorithm="lloyd", random_state=0, colour_space="rgb"):
        self.n_colors = n_colors
        self.n_init = n_init
        self.max_iter = max_iter
        self.init = init
        self.algorithm = algorithm
        self.random_state = random_state
        self.colour_space = colour_space

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

    rank = 20

    def __init__(self, n_colors=16, sample_size=10_000, n_init="auto", max_iter=300,
                 init="k-means++", algorithm="lloyd", random_state=0, colour_space="rgb"):
        super().__init__(n_colors=n_colors, n_init=n_init, max_iter=max_iter, init=init,
                         algorithm=algorithm, random_state=random_state, colour_space=colour_space)
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

    rank = 30

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
    colour_space : {"rgb", "lab", "oklab"}
        Space the clustering (and the pixel assignment) measures distances in.
    """

    rank = 40

    def __init__(self, n_colors=16, batch_size=4096, n_init="auto", max_iter=100,
                 init="k-means++", random_state=0, colour_space="rgb"):
        self.n_colors = n_colors
        self.batch_size = batch_size
        self.n_init = n_init
        self.max_iter = max_iter
        self.init = init
        self.random_state = random_state
        self.colour_space = colour_space

    def _fit_centres(self, pixels, colours, counts, k):
        est = MiniBatchKMeans(n_clusters=k, batch_size=self.batch_size, n_init=self.n_init,
                              max_iter=self.max_iter, init=self.init, random_state=self.random_state)
        return est.fit(pixels.astype(np.float32)).cluster_centers_


class BisectingKMeansQuantizer(Quantizer):
    """scikit-learn ``BisectingKMeans`` on every pixel: split the worst cluster in two, k - 1 times.

    Divisive and hierarchical: each step runs a 2-means on one cluster only, so it is cheaper
    than ``KMeans`` at large k, and the palette is a binary tree of colours (every split keeps
    its parent's pixels together). It fits on every pixel rather than on weighted distinct
    colours because scikit-learn's ``largest_cluster`` counts samples, unweighted.

    Parameters
    ----------
    n_colors : int
        Number of clusters (k).
    bisecting_strategy : {"biggest_inertia", "largest_cluster"}
        Which cluster to split next: the one with the largest squared error, or the one
        with the most pixels.
    n_init : int
        2-means runs per split; the lowest inertia wins.
    max_iter : int
        Lloyd iterations per 2-means run.
    init : {"random", "k-means++"}
        Seeding of each 2-means (scikit-learn's default is ``random``).
    algorithm : {"lloyd", "elkan"}
        Inner k-means algorithm.
    random_state : int or None
        Seed.
    colour_space : {"rgb", "lab", "oklab"}
        Space the clustering (and the pixel assignment) measures distances in.
    """

    rank = 50

    def __init__(self, n_colors=16, bisecting_strategy="biggest_inertia", n_init=1, max_iter=300,
                 init="random", algorithm="lloyd", random_state=0, colour_space="rgb"):
        self.n_colors = n_colors
        self.bisecting_strategy = bisecting_strategy
        self.n_init = n_init
        self.max_iter = max_iter
        self.init = init
        self.algorithm = algorithm
        self.random_state = random_state
        self.colour_space = colour_space

    def _fit_centres(self, pixels, colours, counts, k):
        est = BisectingKMeans(n_clusters=k, bisecting_strategy=self.bisecting_strategy, n_init=self.n_init,
                              max_iter=self.max_iter, init=self.init, algorithm=self.algorithm,
                              random_state=self.random_state)
        return est.fit(pixels.astype(np.float32)).cluster_centers_
