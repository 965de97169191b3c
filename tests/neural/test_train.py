"""The model, its training modes, inference, and the loss kernel, on tiny planted cohorts."""

import numpy as np
import pytest
import torch

from neuradmix.classic.cv import cross_validate
from neuradmix.data import MISSING, Genotypes
from neuradmix.errors import InputError
from neuradmix.neural.checkpoint import load_model, save_model
from neuradmix.neural.config import TrainConfig
from neuradmix.neural.inference import align_snps, infer
from neuradmix.neural.loss import _torch_bce_and_gradients
from neuradmix.neural.loss_kernels import bce_and_gradients
from neuradmix.neural.model import NeuralAdmixture
from neuradmix.neural.run import neural_fold_fit
from neuradmix.neural.train import train
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.frequencies import weighted_allele_frequencies
from neuradmix.stats.metrics import rmse_q


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(300, 3000, 3, missing_rate=0.01, seed=7)


@pytest.fixture(scope="module")
def fitted(cohort):
    return train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2), progress=False)


def _reference_loss(calls, rows, q, f_t):
    q = torch.tensor(q, dtype=torch.float64, requires_grad=True)
    f_t = torch.tensor(f_t, dtype=torch.float64, requires_grad=True)
    genotypes = torch.tensor(calls[rows]).double()
    mask = genotypes < 3
    prob = (q @ f_t).clamp(1e-6, 1 - 1e-6)
    target = genotypes / 2
    loss = -(target * torch.log(prob) + (1 - target) * torch.log(1 - prob))
    loss = loss[mask].sum()
    loss.backward()
    return loss.item(), q.grad.numpy(), f_t.grad.numpy()


@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_loss_and_gradients_match_autograd_and_skip_missing(backend):
    rng = np.random.default_rng(0)
    calls = rng.integers(0, 4, size=(40, 700)).astype(np.uint8)  # includes MISSING (3)
    rows = np.arange(1, 40, 3)
    q = rng.dirichlet(np.ones(3), size=len(rows)).astype(np.float32)
    f_t = rng.uniform(0.01, 0.99, size=(3, 700)).astype(np.float32)
    expected = _reference_loss(calls, rows, q, f_t)
    if backend == "fused":
        loss, observed, grad_q, grad_f_t = bce_and_gradients(calls, rows, q, f_t)
    else:
        loss, observed, grad_q, grad_f_t = _torch_bce_and_gradients(
            torch.from_numpy(calls),
            torch.from_numpy(rows),
            torch.from_numpy(q),
            torch.from_numpy(f_t),
            True,
        )
        loss, observed = float(loss), float(observed)
        grad_q, grad_f_t = grad_q.numpy(), grad_f_t.numpy()
    assert observed == np.count_nonzero(calls[rows] != MISSING)
    assert loss == pytest.approx(expected[0], rel=1e-5)
    np.testing.assert_allclose(grad_q, expected[1], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(grad_f_t, expected[2], rtol=1e-3, atol=1e-3)


def test_planted_truth_is_recovered(cohort, fitted):
    # Stated accuracy for 300 samples x 3000 SNPs, K=3, F_ST 0.1, Dirichlet(0.5), 1% missing.
    assert rmse_q(fitted.q[3], cohort.q) < 0.05
    assert np.allclose(fitted.q[3].sum(axis=1), 1.0)
    assert fitted.p[3].shape == (3000, 3)
    assert (fitted.p[3] >= 0).all() and (fitted.p[3] <= 1).all()
    assert list(fitted.history.columns[:3]) == ["epoch", "train_loss", "val_loss"]


def test_same_seed_same_result(cohort, fitted):
    again = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2), progress=False)
    np.testing.assert_array_equal(again.q[3], fitted.q[3])
    np.testing.assert_array_equal(again.p[3], fitted.p[3])


def test_multi_head_gives_every_k(cohort):
    result = train(cohort.genotypes, TrainConfig(ks=[2, 3, 4], epochs=3, seed=2), progress=False)
    for k in (2, 3, 4):
        assert result.q[k].shape == (300, k)
        assert result.p[k].shape == (3000, k)
    assert {"train_loss_k2", "train_loss_k4"} <= set(result.history.columns)


def test_supervised_columns_follow_sorted_labels_and_semi_supervised_works(cohort):
    labels = np.array(cohort.labels, dtype=object)
    labels[::4] = ""  # a quarter unknown: semi-supervised
    result = train(
        cohort.genotypes, TrainConfig(ks=[3], seed=3, epochs=10), labels=labels, progress=False
    )
    assert result.populations == ["pop1", "pop2", "pop3"]
    predicted = np.array(result.populations)[result.q[3].argmax(axis=1)]
    assert np.mean(predicted == cohort.labels) > 0.85


def test_pretrained_keeps_the_given_decoder(cohort):
    result = train(
        cohort.genotypes, TrainConfig(ks=[3], seed=4, epochs=4), init_p=cohort.p, progress=False
    )
    np.testing.assert_allclose(result.p[3], np.clip(cohort.p, 0, 1), atol=1e-6)
    assert rmse_q(result.q[3], cohort.q) < 0.08


def test_k_larger_than_samples_is_refused(cohort):
    small = cohort.genotypes.select_samples(np.arange(4))
    with pytest.raises(InputError, match="K=5 is larger than the number of samples"):
        train(small, TrainConfig(ks=[5]), progress=False)


def test_saved_model_assigns_training_samples_identically(tmp_path, cohort, fitted):
    save_model(tmp_path / "m.pt", fitted)
    loaded = load_model(tmp_path / "m.pt")
    result = infer(loaded, cohort.genotypes, device="cpu")
    np.testing.assert_allclose(result.q[3], fitted.q[3], atol=1e-6)
    # SNPs in another order are put back in the model's order.
    shuffled = cohort.genotypes.select_snps(np.random.default_rng(0).permutation(3000))
    again = infer(loaded, shuffled, device="cpu")
    assert again.reordered
    np.testing.assert_allclose(again.q[3], fitted.q[3], atol=1e-6)


def test_different_snp_set_or_alleles_are_refused(cohort, fitted):
    fewer = cohort.genotypes.select_snps(np.arange(2999))
    with pytest.raises(InputError, match="SNP set differs.*1 of the model's SNPs are absent"):
        align_snps(fitted.snps, fewer)
    variants = cohort.genotypes.variants.copy()
    variants.loc[5, ["a1", "a2"]] = ["G", "A"]
    flipped = Genotypes.from_calls(cohort.genotypes.calls, cohort.genotypes.samples, variants)
    with pytest.raises(InputError, match="allele coding differs.*1 SNPs"):
        align_snps(fitted.snps, flipped)


def test_recovered_frequencies_are_weighted_means():
    calls = np.array([[0, 2, MISSING], [2, 2, 1], [1, 0, 1]], dtype=np.uint8)
    weights = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    p = weighted_allele_frequencies(calls, weights)
    np.testing.assert_allclose(p, [[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]])


def test_decoder_projection_keeps_f_in_unit_interval():
    model = NeuralAdmixture(4, 10, [2])
    with torch.no_grad():
        model.decoders[0].copy_(torch.linspace(-1, 2, 20).reshape(2, 10))
    model.project_decoders()
    weight = model.decoders[0].detach()
    assert float(weight.min()) == 0.0 and float(weight.max()) == 1.0
    # The decoder is the bias-free linear map Q -> Q F.
    q = torch.tensor([[0.25, 0.75]])
    torch.testing.assert_close(model.reconstruct(q, 0).detach(), q @ weight)


def test_torch_backend_trains_like_the_fused_kernel(cohort, fitted):
    """The CUDA code path (torch ops in SNP blocks), run on the CPU."""
    result = train(
        cohort.genotypes, TrainConfig(ks=[3], seed=1, backend="torch", epochs=3), progress=False
    )
    assert rmse_q(result.q[3], cohort.q) < 0.06
    assert np.isfinite(result.history["train_loss"]).all()


def test_cross_validation_with_the_neural_fold_fit():
    small = simulate_psd(80, 600, 2, fst=0.2, seed=5)
    fit = neural_fold_fit(seed=1, device="cpu", epochs=2)
    result = cross_validate(small.genotypes, 2, fit, folds=2, seed=1)
    assert len(result.fold_errors) == 2 and 0.1 < result.error < 2.0
    assert result.heldout_entries == np.count_nonzero(small.genotypes.calls <= 2)
