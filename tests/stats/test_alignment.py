"""Aligning clusters within and across K, and modes of runs (stats/alignment.py)."""

import numpy as np
import pytest

from neuradmix.stats.alignment import (
    across_k_permutation,
    align_runs,
    alignment_cost,
    find_modes,
    g_prime,
    permute,
    within_k_permutation,
)


@pytest.fixture(scope="module")
def q3():
    return np.random.default_rng(0).dirichlet(np.full(3, 0.3), 80)


def test_cost_and_g_prime_are_clumppings():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    q = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert alignment_cost(p, p) == 0.0 and g_prime(p, p) == 1.0
    assert alignment_cost(p, q) == pytest.approx(2.0 / 4)  # ||P - Q||^2 / (2N)
    assert g_prime(p, q) == pytest.approx(1 - np.sqrt(0.5))


def test_a_permuted_copy_is_realigned_exactly(q3):
    order = [2, 0, 1]  # column j of the copy is column order[j] of q3
    permutation = within_k_permutation(q3, q3[:, order])
    np.testing.assert_array_equal(permutation, order)
    np.testing.assert_array_equal(permute(q3[:, order], permutation), q3)


def test_across_k_the_split_cluster_keeps_its_label_and_the_new_piece_takes_k(q3):
    # K=4: cluster 2 splits 70/30; the columns come shuffled.
    q4 = np.column_stack([q3[:, 2] * 0.3, q3[:, 1], q3[:, 2] * 0.7, q3[:, 0]])
    permutation = across_k_permutation(q3, q4)
    np.testing.assert_array_equal(permutation, [3, 1, 2, 0])
    aligned = permute(q4, permutation)
    np.testing.assert_allclose(aligned[:, :2], q3[:, :2])
    np.testing.assert_allclose(aligned[:, 2] + aligned[:, 3], q3[:, 2])


def test_across_k_with_a_gap_matches_what_it_can():
    q2 = np.random.default_rng(1).dirichlet(np.full(2, 0.3), 50)
    rng = np.random.default_rng(2)
    extra = rng.dirichlet(np.ones(3), 50) * 0.2
    q4 = np.column_stack([extra[:, 0], q2[:, 1] * 0.8, extra[:, 1], q2[:, 0] * 0.8 + extra[:, 2]])
    q4 = q4 / q4.sum(axis=1, keepdims=True)
    permutation = across_k_permutation(q2, q4)
    assert permutation[1] == 1 and permutation[3] == 0
    assert sorted(permutation[[0, 2]]) == [2, 3]


def test_align_runs_names_labels_by_the_reference_and_chains_across_k(q3):
    q2 = np.column_stack([q3[:, 0] + q3[:, 1], q3[:, 2]])
    q4 = np.column_stack([q3[:, 2] * 0.3, q3[:, 1], q3[:, 2] * 0.7, q3[:, 0]])
    qs = {
        ("other", 3): q3[:, [1, 2, 0]],
        ("main", 3): q3,
        ("other", 2): q2[:, [1, 0]],
        ("main", 4): q4,
    }
    alignments = align_runs(qs, reference="main")
    assert list(alignments) == list(qs)
    # K=2 has no main run: the first run with K=2 defines the labels there.
    assert alignments[("other", 2)].aligned_to is None
    np.testing.assert_array_equal(alignments[("other", 2)].permutation, [0, 1])
    # K=3: the main run is aligned across K (cluster 0 of K=2 split into 0 and 1 or 1 and 0).
    main3 = permute(q3, alignments[("main", 3)].permutation)
    assert alignments[("main", 3)].aligned_to == ("other", 2)
    np.testing.assert_allclose(main3[:, 0], q2[:, 1])
    # The other K=3 run lands exactly on the main run's labelling.
    other3 = alignments[("other", 3)]
    assert other3.aligned_to == ("main", 3) and other3.similarity == pytest.approx(1.0)
    np.testing.assert_allclose(permute(qs[("other", 3)], other3.permutation), main3)
    # K=4: cluster 0 splits; its larger piece keeps label 0, the other takes label 3.
    main4 = permute(q4, alignments[("main", 4)].permutation)
    assert alignments[("main", 4)].aligned_to == ("main", 3)
    np.testing.assert_allclose(main4[:, 1:3], main3[:, 1:3])
    np.testing.assert_allclose(main4[:, 0], 0.7 * main3[:, 0])
    np.testing.assert_allclose(main4[:, 3], 0.3 * main3[:, 0])


def test_align_runs_rejects_different_samples(q3):
    with pytest.raises(ValueError, match="same samples"):
        align_runs({("a", 3): q3, ("b", 3): q3[:10]})


def test_permuted_copies_share_a_mode_and_a_different_solution_does_not(q3):
    rng = np.random.default_rng(5)
    noisy = q3[:, [1, 2, 0]] + rng.normal(0, 0.002, q3.shape)
    noisy = np.clip(noisy, 0, None)
    noisy /= noisy.sum(axis=1, keepdims=True)
    different = rng.dirichlet(np.full(3, 0.3), q3.shape[0])
    modes, similarity = find_modes([q3, different, noisy, q3[:, [2, 1, 0]]])
    np.testing.assert_array_equal(modes, [1, 2, 1, 1])
    assert similarity[0, 2] > 0.95 and similarity[0, 1] < 0.7
    np.testing.assert_array_equal(find_modes([q3])[0], [1])
