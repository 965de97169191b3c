"""K-means for PCK-Means."""

import numpy as np
import pytest

from neuradmix.stats.cluster import kmeans


def test_separated_clusters_are_found_and_seeds_repeat():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [3, 0, 0], [0, 3, 0], [0, 0, 3]], dtype=float)
    truth = np.repeat(np.arange(4), 50)
    points = centres[truth] + rng.normal(0, 0.3, size=(200, 3))
    labels = kmeans(points, 4, seed=1)
    # The same partition up to a renaming of the clusters.
    pairs = {(int(a), int(b)) for a, b in zip(truth, labels, strict=True)}
    assert len(pairs) == 4 and len({b for _, b in pairs}) == 4
    np.testing.assert_array_equal(labels, kmeans(points, 4, seed=1))


def test_more_clusters_than_points_is_refused():
    with pytest.raises(ValueError, match="clusters"):
        kmeans(np.zeros((3, 2)), 4)
