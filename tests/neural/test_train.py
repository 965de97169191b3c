"""Neural training: the written Q is the encoder's forward pass, training (not the start) brings
it to the maximum-likelihood optimum, the encoder's loss is the likelihood's, every mode works,
and a saved model assigns new samples in one forward pass."""

import numpy as np
import pytest
import torch

from neuradmix.classic import fit as classic
from neuradmix.classic.cv import cross_validate
from neuradmix.compute import bounds
from neuradmix.compute.engines import log_likelihood
from neuradmix.compute.numba_engine import NumbaEngine
from neuradmix.data import MISSING, Genotypes
from neuradmix.errors import InputError
from neuradmix.neural import train as training
from neuradmix.neural.checkpoint import LoadedModel, load_model, save_model
from neuradmix.neural.config import TrainConfig
from neuradmix.neural.inference import align_snps, infer
from neuradmix.neural.model import encode
from neuradmix.neural.run import neural_fold_fit
from neuradmix.neural.train import LocalModel, StoppingRule, train
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.frequencies import weighted_allele_frequencies
from neuradmix.stats.metrics import entropy_of, rmse_q


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(300, 3000, 3, fst=0.1, alpha=0.5, missing_rate=0.01, seed=7)


@pytest.fixture(scope="module")
def optimum(cohort):
    """The maximum-likelihood fit by the classic method, the reference of every bound."""
    return classic.fit(cohort.genotypes, 3, seed=1, tol=1e-11)


@pytest.fixture(scope="module")
def fitted(cohort):
    return train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2))


def _gap(optimum, ll):
    return (optimum.log_likelihood - ll) / abs(optimum.log_likelihood)


def _forward(result, genotypes):
    """The encoder's forward pass, computed here from the genotypes and the trained weights."""
    coordinates = torch.from_numpy(result.pca.transform(genotypes).astype(np.float64))
    return encode(result.model, coordinates)


def test_written_q_is_the_forward_pass_and_p_the_decoder(cohort, fitted):
    q = _forward(fitted, cohort.genotypes)[0]
    np.testing.assert_array_equal(fitted.q[3], q)
    np.testing.assert_array_equal(fitted.p[3], fitted.model.frequencies(0))
    assert fitted.log_likelihood[3] == pytest.approx(
        log_likelihood(cohort.genotypes, q, fitted.p[3]), rel=1e-12
    )


def test_training_brings_the_forward_pass_to_the_optimum(cohort, optimum, fitted):
    """Trained, the forward pass is within 5e-5 of the optimum and as close to the truth;
    without an epoch (the encoder fitted to the start, F at PCK-Means) it is far below."""
    assert _gap(optimum, fitted.log_likelihood[3]) < 5e-5
    assert rmse_q(fitted.q[3], cohort.q) <= 1.05 * rmse_q(optimum.q, cohort.q)
    assert fitted.converged and fitted.epochs_run < 2 * fitted.config.epochs
    untrained = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2, epochs=0))
    assert _gap(optimum, untrained.log_likelihood[3]) > 5 * _gap(optimum, fitted.log_likelihood[3])
    assert rmse_q(untrained.q[3], optimum.q) > 2 * rmse_q(fitted.q[3], optimum.q)


def test_training_without_encoder_steps_or_decoder_steps_falls_short(
    cohort, optimum, fitted, monkeypatch
):
    """Each half of the epoch does work: with the encoder's step switched off (the encoder stays
    where the start put it) or the decoder's Newton step, the fit ends well below the trained
    one."""
    config = TrainConfig(ks=[3], seed=1, threads=2, epochs=20)
    with monkeypatch.context() as patch:
        patch.setattr(training, "encoder_step", lambda *args, **kwargs: None)
        frozen_encoder = train(cohort.genotypes, config)
    assert _gap(optimum, frozen_encoder.log_likelihood[3]) > 2 * _gap(
        optimum, fitted.log_likelihood[3]
    )
    with monkeypatch.context() as patch:
        patch.setattr(NumbaEngine, "frequencies", _without_f_step)
        fixed_decoder = train(cohort.genotypes, config)
    assert _gap(optimum, fixed_decoder.log_likelihood[3]) > 10 * _gap(
        optimum, fitted.log_likelihood[3]
    )


_F_STEP = NumbaEngine.frequencies


def _without_f_step(self, q, f, steps=1):
    return f, _F_STEP(self, q, f, 0)[1]


def test_the_encoders_loss_has_the_likelihoods_gradient(cohort):
    """At the start of an epoch, the gradient of the encoder's loss in its logits is the
    gradient of the ADMIXTURE negative log-likelihood of softmax(logits) F, written out here in
    torch (missing calls skipped)."""
    genotypes = cohort.genotypes.select_samples(np.arange(40))
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(40, 3)), requires_grad=True)
    f = np.clip(cohort.p, 0.02, 0.98)
    q = torch.softmax(logits, dim=1)
    engine = NumbaEngine(genotypes)
    gradient, curvature = engine.ancestry_model(q.detach().numpy(), f)
    local = LocalModel(
        q0=q.detach(), gradient=torch.from_numpy(gradient), curvature=torch.from_numpy(curvature),
        scale=1.0,
    )  # fmt: skip
    (ours,) = torch.autograd.grad(local.loss(logits), logits)

    calls = torch.from_numpy(genotypes.calls.astype(np.float64))
    observed = calls < 3
    g = torch.where(observed, calls, 0.0)
    p = q @ torch.from_numpy(f).T
    nll = -torch.where(observed, g * torch.log(p) + (2 - g) * torch.log1p(-p), 0.0).sum()
    (exact,) = torch.autograd.grad(nll, logits)
    # The pass sums in single precision, flushed to double every 64 SNPs.
    torch.testing.assert_close(ours, exact, rtol=1e-4, atol=1e-4)


def test_backpropagation_by_hand_is_autograds(cohort):
    """The encoder's training back-propagates its loss by hand (for speed): the same value and
    gradient as autograd, with every term of the loss switched on."""
    from neuradmix.neural.model import _Head

    torch.manual_seed(0)
    n, k = 30, 3
    head = _Head(2, 16, k)
    inputs = torch.randn(n, 2, dtype=torch.float64)
    rng = np.random.default_rng(1)
    square = rng.normal(size=(n, k, k))
    local = LocalModel(
        q0=torch.softmax(torch.randn(n, k, dtype=torch.float64), dim=1),
        gradient=torch.from_numpy(rng.normal(size=(n, k))),
        curvature=torch.from_numpy(square @ square.transpose(0, 2, 1)),
        scale=0.01,
        entropy=torch.from_numpy(rng.uniform(0.1, 1.0, size=n)),
        labels=torch.from_numpy(rng.integers(-1, k, size=n)),
        eta=0.7,
    )
    value, grads = head.backpropagate(inputs, lambda z: local.loss_and_gradient(z, 1.5))
    loss = local.loss(head(inputs), 1.5)
    expected = torch.autograd.grad(loss, list(head.parameters()))
    assert value == pytest.approx(float(loss.detach()), rel=1e-12)
    for ours, theirs in zip(grads, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_training_is_reproducible(cohort, fitted):
    again = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2))
    np.testing.assert_array_equal(again.q[3], fitted.q[3])
    np.testing.assert_array_equal(again.p[3], fitted.p[3])
    history = fitted.history
    assert {"epoch", "stage", "train_loss", "log_likelihood_k3", "seconds"} <= set(history.columns)


def test_stopping_rule_waits_for_patience_flat_epochs():
    rule = StoppingRule(tolerance=1e-6, patience=2)
    assert not rule.update(-1000.0)
    assert not rule.update(-990.0)  # progress
    assert not rule.update(-989.9995)  # below tolerance: one flat epoch
    assert not rule.update(-980.0)  # progress resets the count
    assert not rule.update(-980.0)
    assert rule.update(-980.0001)  # a fall counts as flat too: second flat epoch in a row


def test_the_epoch_cap_stops_an_unconverged_run(cohort):
    result = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, epochs=2))
    assert not result.converged
    assert result.epochs_run == 2 * result.history["stage"].nunique()


def test_torch_engine_trains_like_the_numba_kernels(cohort, optimum, fitted):
    """The CUDA code path (torch tensors), run on the CPU."""
    result = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2, engine="torch"))
    assert _gap(optimum, result.log_likelihood[3]) < 5e-5
    assert rmse_q(result.q[3], fitted.q[3]) < 0.005


def test_every_head_of_a_multi_head_model_is_near_its_optimum(cohort):
    result = train(cohort.genotypes, TrainConfig(ks=[2, 3], seed=1, threads=2))
    for k in (2, 3):
        reference = classic.fit(cohort.genotypes, k, seed=1, tol=1e-11)
        assert _gap(reference, result.log_likelihood[k]) < 1e-4, k
        assert result.q[k].shape == (300, k) and result.p[k].shape == (3000, k)
    assert {"log_likelihood_k2", "log_likelihood_k3"} <= set(result.history.columns)
    # One encoder: both heads read the same principal coordinates, each its leading K - 1.
    assert result.pca.n_components == 2
    assert [head.n_inputs for head in result.model.heads] == [1, 2]


def test_eta_weighs_the_labels_of_a_semi_supervised_run(cohort):
    labels = np.array(cohort.labels, dtype=object)
    labels[::4] = ""  # a quarter unknown: semi-supervised
    known = labels != ""
    runs = {}
    for eta in (0.0, 0.01, 1.0):
        config = TrainConfig(ks=[3], seed=3, threads=2, supervised_weight=eta)
        runs[eta] = train(cohort.genotypes, config, labels=labels)
    result = runs[0.01]
    assert result.populations == ["pop1", "pop2", "pop3"]
    column = np.array([result.populations.index(x) for x in labels[known]])
    # The labelled samples' Q moves towards their label as eta grows, and the result changes.
    share = [runs[eta].q[3][known, column].mean() for eta in (0.0, 0.01, 1.0)]
    assert share[0] < share[1] - 0.01 and share[1] < share[2] - 0.01, share
    assert share[2] > 0.99
    assert rmse_q(runs[0.0].q[3], runs[1.0].q[3]) > 0.05
    predicted = np.array(result.populations)[result.q[3][~known].argmax(axis=1)]
    assert np.mean(predicted == np.asarray(cohort.labels)[~known]) > 0.85


def test_pretrained_trains_the_encoder_against_the_frozen_p(cohort):
    p = np.clip(cohort.p, bounds.F_MIN, bounds.F_MAX)
    result = train(cohort.genotypes, TrainConfig(ks=[3], seed=4, threads=2), init_p=p)
    np.testing.assert_array_equal(result.p[3], p)
    projection = classic.project(cohort.genotypes, p, tol=1e-12)
    gap = (projection.log_likelihood - result.log_likelihood[3]) / abs(projection.log_likelihood)
    assert 0 <= gap < 1e-4
    assert rmse_q(result.q[3], projection.q) < 0.02
    np.testing.assert_array_equal(result.q[3], _forward(result, cohort.genotypes)[0])


def test_lambda_softens_q_monotonically(cohort, fitted):
    entropies = [entropy_of(fitted.q[3]).mean()]
    for lam in (0.003, 0.03, 0.3):
        result = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2, entropy=lam))
        entropies.append(entropy_of(result.q[3]).mean())
    assert np.all(np.diff(entropies) > 0.02), entropies
    assert entropies[-1] > 0.9 * np.log(3)  # close to uniform


def test_bad_settings_are_refused_before_work(cohort):
    small = cohort.genotypes.select_samples(np.arange(4))
    with pytest.raises(InputError, match="--k 4: as many ancestral populations as the 4"):
        train(small, TrainConfig(ks=[4]))
    for change, message in (
        ({"ks": [1]}, "K must be at least 2"),
        ({"entropy": -1.0}, "--lambda -1.0"),
        ({"engine": "cupy"}, "--engine 'cupy'"),
        ({"encoder_steps": 0}, "--encoder-steps 0"),
        ({"extra_coordinates": -1}, "--extra-coordinates -1"),
    ):
        with pytest.raises(InputError, match=message):
            train(cohort.genotypes, TrainConfig(**{"ks": [3], **change}))


def test_saved_model_assigns_the_training_samples_as_training_did(tmp_path, cohort, fitted):
    save_model(tmp_path / "m.pt", fitted)
    loaded = load_model(tmp_path / "m.pt")
    result = infer(loaded, cohort.genotypes, device="cpu")
    np.testing.assert_array_equal(result.q[3], fitted.q[3])
    assert result.refine_steps == 0
    # SNPs in another order are put back in the model's order.
    shuffled = cohort.genotypes.select_snps(np.random.default_rng(0).permutation(3000))
    again = infer(loaded, shuffled, device="cpu")
    assert again.reordered
    np.testing.assert_allclose(again.q[3], fitted.q[3], atol=1e-6)


def test_new_samples_get_the_projection_optimum_from_one_forward_pass(cohort):
    """Trained on 240 samples, the model's forward pass assigns the other 60 close to where
    ADMIXTURE's projection (-P with the model's F) puts them; refinement lands on it."""
    genotypes = cohort.genotypes
    train_rows, new_rows = np.arange(240), np.arange(240, 300)
    result = train(genotypes.select_samples(train_rows), TrainConfig(ks=[3], seed=5, threads=2))
    new = genotypes.select_samples(new_rows)
    loaded = LoadedModel(result.model, result.pca, [3], result.snps, {}, None, "test")
    assigned = infer(loaded, new, device="cpu")
    projection = classic.project(new, result.p[3], tol=1e-12)
    assert rmse_q(assigned.q[3], projection.q) < 0.015
    assert rmse_q(assigned.q[3], cohort.q[new_rows]) < 0.06
    refined = infer(loaded, new, device="cpu", refine_steps=10)
    assert refined.refine_steps > 0
    np.testing.assert_allclose(refined.q[3], projection.q, atol=1e-4)


def test_different_snp_set_alleles_or_format_are_refused(tmp_path, cohort, fitted):
    fewer = cohort.genotypes.select_snps(np.arange(2999))
    with pytest.raises(InputError, match="SNP set differs.*1 of the model's SNPs are absent"):
        align_snps(fitted.snps, fewer)
    variants = cohort.genotypes.variants.copy()
    variants.loc[5, ["a1", "a2"]] = ["G", "A"]
    flipped = Genotypes.from_calls(cohort.genotypes.calls, cohort.genotypes.samples, variants)
    with pytest.raises(InputError, match="allele coding differs.*1 SNPs"):
        align_snps(fitted.snps, flipped)
    save_model(tmp_path / "m.pt", fitted)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["format_version"] = 2
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(InputError, match="train the model again"):
        load_model(tmp_path / "old.pt")


def test_recovered_frequencies_are_weighted_means():
    calls = np.array([[0, 2, MISSING], [2, 2, 1], [1, 0, 1]], dtype=np.uint8)
    weights = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    p = weighted_allele_frequencies(calls, weights)
    np.testing.assert_allclose(p, [[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]])


def test_cross_validation_with_the_neural_fold_fit():
    small = simulate_psd(80, 600, 2, fst=0.2, seed=5)
    fit = neural_fold_fit(seed=1, device="cpu", epochs=20)
    result = cross_validate(small.genotypes, 2, fit, folds=2, seed=1)
    assert len(result.fold_errors) == 2 and 0.1 < result.error < 2.0
    assert result.heldout_entries == np.count_nonzero(small.genotypes.calls <= 2)


def test_extra_coordinates_reach_the_heads_and_the_saved_model(tmp_path, cohort):
    """--extra-coordinates E: each head reads K - 1 + E principal coordinates, the model file
    keeps that, and the reloaded model assigns the training samples as training did."""
    result = train(
        cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2, epochs=4, extra_coordinates=2)
    )
    assert result.pca.n_components == 4
    assert [head.n_inputs for head in result.model.heads] == [4]
    save_model(tmp_path / "m.pt", result)
    loaded = load_model(tmp_path / "m.pt")
    assert [head.n_inputs for head in loaded.model.heads] == [4]
    np.testing.assert_array_equal(infer(loaded, cohort.genotypes, device="cpu").q[3], result.q[3])


def test_heads_above_the_structure_read_more_coordinates_by_default(tmp_path, cohort):
    """The cohort's 3 populations span 2 axes above the noise: heads K=2, 3 read their K - 1
    coordinates, the head K=4 reads 3 more per dimension beyond them (3 + 3); the model file
    keeps each head's width."""
    result = train(cohort.genotypes, TrainConfig(ks=[2, 3, 4], seed=1, threads=2, epochs=2))
    assert [head.n_inputs for head in result.model.heads] == [1, 2, 6]
    assert result.pca.n_components == 6
    save_model(tmp_path / "m.pt", result)
    loaded = load_model(tmp_path / "m.pt")
    assert [head.n_inputs for head in loaded.model.heads] == [1, 2, 6]
    np.testing.assert_array_equal(infer(loaded, cohort.genotypes, device="cpu").q[4], result.q[4])
