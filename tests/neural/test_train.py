"""Neural training: it reaches the maximum-likelihood optimum from a start that is visibly off,
the encoder learns, the schedules behave, every mode works, and a saved model assigns samples."""

import numpy as np
import pytest
import torch

from neuradmix.classic import fit as classic
from neuradmix.classic.cv import cross_validate
from neuradmix.classic.likelihood import log_likelihood
from neuradmix.data import MISSING, Genotypes
from neuradmix.errors import InputError
from neuradmix.neural.checkpoint import load_model, save_model
from neuradmix.neural.config import TrainConfig
from neuradmix.neural.inference import align_snps, infer
from neuradmix.neural.model import encode
from neuradmix.neural.run import neural_fold_fit
from neuradmix.neural.train import LearningRateSchedule, StoppingRule, train
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.frequencies import weighted_allele_frequencies
from neuradmix.stats.metrics import entropy_of, rmse_q


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(300, 3000, 3, fst=0.1, alpha=0.5, missing_rate=0.01, seed=7)


@pytest.fixture(scope="module")
def optimum(cohort):
    """The maximum-likelihood fit by the classic engine, the reference of every bound."""
    return classic.fit(cohort.genotypes, 3, seed=1, tol=1e-11)


@pytest.fixture(scope="module")
def fitted(cohort):
    return train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2))


def _gap(optimum, ll):
    return (optimum.log_likelihood - ll) / abs(optimum.log_likelihood)


def _encoder_q(result, genotypes):
    inputs = torch.from_numpy(result.pca.transform(genotypes).astype(np.float32))
    return encode(result.model, inputs)[0]


def test_training_reaches_the_optimum_from_a_visibly_wrong_start(cohort, optimum):
    """PCK-Means alone starts every sample in one cluster, far from these admixed samples.
    Without training (epochs=0) the output is that start refined given its F; with training
    it is the optimum, and the encoder itself has learnt the admixture proportions."""
    config = TrainConfig(ks=[3], seed=1, threads=2, init="pckmeans")
    untrained = train(cohort.genotypes, TrainConfig(**{**config.__dict__, "epochs": 0}))
    trained = train(cohort.genotypes, config)
    assert _gap(optimum, untrained.log_likelihood[3]) > 1e-3
    assert rmse_q(untrained.q[3], cohort.q) > 0.1
    assert _gap(optimum, trained.log_likelihood[3]) < 1e-5
    assert rmse_q(trained.q[3], cohort.q) <= 1.1 * rmse_q(optimum.q, cohort.q)
    assert trained.converged and trained.epochs_run < config.epochs
    # The encoder's own output: near the final Q after training, far from it before.
    assert rmse_q(_encoder_q(trained, cohort.genotypes), trained.q[3]) < 0.03
    assert rmse_q(_encoder_q(untrained, cohort.genotypes), trained.q[3]) > 0.1


def test_default_training_is_at_the_optimum_and_reproducible(cohort, optimum, fitted):
    assert _gap(optimum, fitted.log_likelihood[3]) < 1e-6
    assert fitted.log_likelihood[3] == pytest.approx(
        log_likelihood(cohort.genotypes, fitted.q[3], fitted.p[3]), rel=1e-12
    )
    np.testing.assert_allclose(fitted.q[3].sum(axis=1), 1.0)
    assert fitted.p[3].min() >= classic.F_MIN and fitted.p[3].max() <= classic.F_MAX
    again = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=1))
    np.testing.assert_array_equal(again.q[3], fitted.q[3])
    np.testing.assert_array_equal(again.p[3], fitted.p[3])
    other = train(cohort.genotypes, TrainConfig(ks=[3], seed=2, threads=2))
    assert other.log_likelihood[3] == pytest.approx(fitted.log_likelihood[3], rel=1e-6)
    history = fitted.history
    assert {"epoch", "stage", "train_loss", "log_likelihood_k3", "learning_rate"} <= set(
        history.columns
    )
    assert np.all(np.diff(history["learning_rate"]) <= 0)


def test_stopping_rule_waits_for_patience_flat_epochs():
    rule = StoppingRule(tolerance=1e-6, patience=2)
    assert not rule.update(-1000.0)
    assert not rule.update(-990.0)  # progress
    assert not rule.update(-989.9995)  # below tolerance: one flat epoch
    assert not rule.update(-980.0)  # progress resets the count
    assert not rule.update(-980.0)
    assert rule.update(-980.0001)  # a fall counts as flat too: second flat epoch in a row


def test_learning_rate_halves_on_a_plateau_down_to_a_floor():
    schedule = LearningRateSchedule(1e-3, patience=2)
    assert schedule.update(1.0) == 1e-3
    assert schedule.update(0.5) == 1e-3  # falling
    assert schedule.update(0.499) == 1e-3  # less than 1%: one stale epoch
    assert schedule.update(0.498) == 5e-4  # two: halved
    for _ in range(40):
        rate = schedule.update(0.498)
    assert rate == pytest.approx(1e-3 / 64)


def test_the_epoch_cap_stops_an_unconverged_run(cohort):
    result = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, epochs=2, init="pckmeans"))
    assert not result.converged
    assert result.epochs_run == 2 * result.history["stage"].nunique()


def test_torch_engine_trains_like_the_numba_kernels(cohort, fitted):
    """The CUDA code path (torch tensors), run on the CPU."""
    result = train(cohort.genotypes, TrainConfig(ks=[3], seed=1, threads=2, engine="torch"))
    assert result.log_likelihood[3] == pytest.approx(fitted.log_likelihood[3], rel=1e-8)
    np.testing.assert_allclose(result.q[3], fitted.q[3], atol=1e-4)


def test_every_head_of_a_multi_head_model_is_at_its_optimum(cohort):
    result = train(cohort.genotypes, TrainConfig(ks=[2, 3], seed=1, threads=2))
    for k in (2, 3):
        reference = classic.fit(cohort.genotypes, k, seed=1, tol=1e-11)
        assert _gap(reference, result.log_likelihood[k]) < 1e-5
        assert result.q[k].shape == (300, k) and result.p[k].shape == (3000, k)
    assert {"log_likelihood_k2", "log_likelihood_k3"} <= set(result.history.columns)
    # Each stage ended only when every head had stopped rising by itself (relative to its own
    # log-likelihood), not when the sum over heads had: a slow head keeps the stage going.
    config = result.config
    for _, stage in result.history.groupby("stage", sort=False):
        assert len(stage) < config.epochs
        for k in (2, 3):
            ll = stage[f"log_likelihood_k{k}"].to_numpy()
            rises = np.diff(ll)[-config.patience :] / np.abs(ll[-config.patience :])
            assert (rises <= config.tolerance).all(), (k, rises)


def test_supervised_and_semi_supervised(cohort):
    labels = np.array(cohort.labels, dtype=object)
    labels[::4] = ""  # a quarter unknown: semi-supervised
    result = train(cohort.genotypes, TrainConfig(ks=[3], seed=3, threads=2), labels=labels)
    assert result.populations == ["pop1", "pop2", "pop3"]
    known = labels != ""
    column = np.array([result.populations.index(x) for x in labels[known]])
    assert np.all(result.q[3][known, column] > 1 - 1e-4)  # labelled samples stay fixed
    reference = classic.fit_supervised(cohort.genotypes, labels, seed=3, tol=1e-11)
    assert _gap(reference, result.log_likelihood[3]) < 1e-5
    predicted = np.array(result.populations)[result.q[3][~known].argmax(axis=1)]
    assert np.mean(predicted == np.asarray(cohort.labels)[~known]) > 0.85


def test_pretrained_is_at_the_projection_optimum_given_the_frozen_p(cohort):
    p = np.clip(cohort.p, classic.F_MIN, classic.F_MAX)
    result = train(cohort.genotypes, TrainConfig(ks=[3], seed=4, threads=2), init_p=p)
    np.testing.assert_array_equal(result.p[3], p)
    projection = classic.project(cohort.genotypes, p, tol=1e-12)
    gap = (projection.log_likelihood - result.log_likelihood[3]) / abs(projection.log_likelihood)
    assert abs(gap) < 3e-5
    np.testing.assert_allclose(result.q[3], projection.q, atol=1e-4)


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
        ({"init": "random"}, "--init 'random'"),
        ({"batch_size": 1}, "--batch-size 1"),
    ):
        with pytest.raises(InputError, match=message):
            train(cohort.genotypes, TrainConfig(**{"ks": [3], **change}))


def test_saved_model_assigns_samples_as_training_did(tmp_path, cohort, fitted):
    save_model(tmp_path / "m.pt", fitted)
    loaded = load_model(tmp_path / "m.pt")
    result = infer(loaded, cohort.genotypes, device="cpu")
    np.testing.assert_allclose(result.q[3], fitted.q[3], atol=1e-6)
    # SNPs in another order are put back in the model's order.
    shuffled = cohort.genotypes.select_snps(np.random.default_rng(0).permutation(3000))
    again = infer(loaded, shuffled, device="cpu")
    assert again.reordered
    np.testing.assert_allclose(again.q[3], fitted.q[3], atol=1e-6)


def test_new_samples_get_the_projection_optimum(cohort):
    """Trained on 240 samples, the model assigns the other 60 as ADMIXTURE's projection mode
    (-P with the model's F) would: the encoder's guess refined to the optimum."""
    genotypes = cohort.genotypes
    train_rows, new_rows = np.arange(240), np.arange(240, 300)
    result = train(genotypes.select_samples(train_rows), TrainConfig(ks=[3], seed=5, threads=2))
    new = genotypes.select_samples(new_rows)
    from neuradmix.neural.checkpoint import LoadedModel

    loaded = LoadedModel(result.model, result.pca, [3], result.snps, {}, None, "test")
    assigned = infer(loaded, new, device="cpu")
    projection = classic.project(new, result.p[3], tol=1e-12)
    np.testing.assert_allclose(assigned.q[3], projection.q, atol=1e-4)
    assert rmse_q(assigned.q[3], cohort.q[new_rows]) < 0.06


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
    payload["format_version"] = 1
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
