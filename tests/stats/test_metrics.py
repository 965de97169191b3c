"""Paper metrics on hand-computed cases."""

import numpy as np
import pytest

from neuradmix.compute.engines import log_likelihood
from neuradmix.errors import InputError
from neuradmix.stats.metrics import ami, column_similarity, delta, l_n_lambda0, rmse_q


def test_log_likelihood_by_hand_skips_missing():
    calls = np.array([[0, 1, 2, 3]], dtype=np.uint8)
    q = np.array([[1.0]])
    p = np.array([[0.2], [0.5], [0.9], [0.7]])
    expected = 2 * np.log(0.8) + (np.log(0.5) + np.log(0.5)) + 2 * np.log(0.9)
    assert log_likelihood(calls, q, p) == pytest.approx(expected)
    assert l_n_lambda0(expected) == pytest.approx(-expected / 2)


def test_delta_matches_definition_and_is_zero_for_permuted_truth():
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.ones(3), size=9)
    labels = np.array(["a", "b", "c"] * 3, dtype=object)
    y = np.eye(3)[[0, 1, 2] * 3]
    direct = np.sum((q @ q.T - y @ y.T) ** 2) / 81
    assert delta(q, labels) == pytest.approx(direct)
    assert delta(y[:, [2, 0, 1]], labels) == pytest.approx(0.0)


def test_ami_perfect_and_unknown_labels_ignored():
    q = np.eye(2)[[0, 0, 1, 1, 1]]
    assert ami(q, np.array(["x", "x", "y", "y", ""], dtype=object)) == pytest.approx(1.0)


def test_rmse_matches_clusters_first():
    truth = np.array([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    assert rmse_q(truth[:, ::-1], truth) == pytest.approx(0.0)
    with pytest.raises(InputError, match="same samples and K"):
        rmse_q(truth[:, :1], truth)


def test_column_similarity_hand_computed():
    a = np.array([[1.0, 0.0], [0.5, 0.5]])
    b = np.array([[0.0, 1.0], [0.5, 0.5]])
    similarity = column_similarity(a, b)
    # a0 vs b0: min sum 0.5, max sum 1.5; a0 vs b1: min 1.0, max 1.0.
    np.testing.assert_allclose(similarity, [[1 / 3, 1.0], [1.0, 1 / 3]])
