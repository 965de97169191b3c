import io

import numpy as np
import pandas as pd
import pytest

from neuradmix.report import plots
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.pca import fit_pca


@pytest.fixture(scope="module")
def cohort():
    return simulate_psd(120, 400, 3, fst=0.25, alpha=0.2, seed=3)


def test_downsample_is_stratified_exact_and_deterministic():
    labels = np.array(["a"] * 900 + ["b"] * 90 + ["c"] * 10, dtype=object)
    keep = plots.downsample(labels, 100, seed=1)
    assert keep.size == 100
    assert np.all(np.diff(keep) > 0)
    kept = pd.Series(labels[keep]).value_counts()
    assert set(kept.index) == {"a", "b", "c"}
    assert kept["a"] > kept["b"] > kept["c"] >= 1
    np.testing.assert_array_equal(keep, plots.downsample(labels, 100, seed=1))
    np.testing.assert_array_equal(plots.downsample(labels, 5000), np.arange(1000))


def test_sample_order_groups_populations_and_sorts_by_dominant_component():
    q = np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    labels = np.array(["y", "x", "x", "", "x"], dtype=object)
    colours = np.array([0, 1])
    populations = plots.population_order(q, colours, labels)
    assert populations == ["x", "y", plots.UNLABELLED]
    order, bounds = plots.sample_order(q, colours, labels, populations)
    # x: 1 (0.9), 2 (0.6), 4 (0.5, ties go to column 0); then y; then unlabelled.
    assert order.tolist() == [1, 2, 4, 0, 3]
    assert bounds == [("x", 0, 3), ("y", 3, 4), (plots.UNLABELLED, 4, 5)]


def test_plot_structure_downsamples_and_reports_counts(cohort):
    colours = np.arange(3)
    section = plots.BarplotSection(
        "Training",
        cohort.labels,
        [plots.QPanel("neural", cohort.q, colours), plots.QPanel("em", cohort.q, colours)],
    )
    fig = plots.plot_structure([section], max_samples=50)
    assert len(fig.axes) == 2
    assert (section.shown, section.total) == (50, 120)
    first_panel_labels = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert sorted(first_panel_labels) == sorted(set(cohort.labels))


def test_save_png_is_byte_reproducible(cohort):
    def render():
        fig, _, _ = plots.plot_multik_grid(
            {"neural": {3: (cohort.q, np.arange(3))}}, cohort.labels, max_samples=40
        )
        buffer = io.BytesIO()
        plots.save_png(fig, buffer)
        return buffer.getvalue()

    first = render()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert first == render()


def test_pca_centre_figure_and_curves_have_one_panel_each(cohort):
    pca = fit_pca(cohort.genotypes.calls, 2, method="exact")
    centres = {
        k: {"neural": (pca.project_frequencies(cohort.p[:, :k]), np.arange(k))} for k in (2, 3)
    }
    fig = plots.plot_pca_centres(pca, cohort.labels, centres)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["K=2", "K=3"]
    cv = pd.DataFrame({"method": ["em"] * 3, "k": [2, 3, 4], "cv_error": [0.6, 0.5, 0.55]})
    assert len(plots.plot_cv_error(cv).axes) == 1
    with pytest.raises(ValueError, match="cv_error"):
        plots.plot_cv_error(cv.drop(columns="cv_error"))
    stages = ["common SNPs"] * 2 + ["all SNPs"] * 3
    loss = pd.DataFrame({"epoch": range(1, 6), "stage": stages, "train_loss": [9, 8, 3, 2, 1]})
    fig = plots.plot_loss_curves({"a": loss, "b": loss[loss["stage"] == "all SNPs"]})
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["a", "b"]
    # Two stages: each on its own axis (their losses are on different SNP sets).
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    xs = sorted(list(line.get_xdata()) for line in lines)
    assert xs == [[1, 2], [3, 4, 5], [3, 4, 5]]
    assert len(titled[0].get_lines()) == 1 and len(titled[1].get_lines()) == 1


def test_multik_grid_titles_and_labels_every_column_whatever_each_model_fitted(cohort):
    q2 = np.column_stack([cohort.q[:, 0], cohort.q[:, 1:].sum(axis=1)])
    grid = {
        "single": {3: (cohort.q, np.arange(3))},  # one K only, as a single-head run
        "multi": {2: (q2, np.array([0, 1])), 3: (cohort.q, np.arange(3))},
        "sup": {3: (cohort.q, np.arange(3))},  # the bottom row lacks K=2
    }
    fig, _, _ = plots.plot_multik_grid(grid, cohort.labels, max_samples=60)
    axes = fig.axes
    assert sorted(ax.get_title() for ax in axes if ax.get_title()) == ["K=2", "K=3"]
    assert {ax.get_ylabel() for ax in axes if ax.get_ylabel()} == {"single", "multi", "sup"}
    populations = sorted(set(cohort.labels))
    labelled = [ax for ax in axes if [t.get_text() for t in ax.get_xticklabels()]]
    assert len(labelled) == 2  # the bottom of each column, even where sup has no K=2
    for ax in labelled:
        assert sorted(t.get_text() for t in ax.get_xticklabels()) == populations
    assert fig.get_figwidth() <= 11  # drawn at the report's width, not scaled down


def test_many_k_wrap_into_bands_that_keep_the_width(cohort):
    grid = {"multi": {k: (cohort.q, np.arange(3)) for k in range(2, 9)}}
    fig, _, _ = plots.plot_multik_grid(grid, cohort.labels, max_samples=60)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [f"K={k}" for k in range(2, 9)] and fig.get_figwidth() <= 11


def test_populations_take_the_colour_of_the_cluster_that_dominates_them(cohort):
    labels = np.asarray(cohort.labels, dtype=object)
    colours = np.array([5, 3, 7])  # colour ids of the columns of cohort.q
    mapping = plots.population_colours(labels, cohort.q, colours)
    for name in sorted(set(labels)):
        dominant = int(np.argmax(cohort.q[labels == name].mean(axis=0)))
        assert mapping[name] == plots.cluster_colour(colours[dominant])
    # With more populations than K, the one left without a cluster gets a colour no cluster
    # uses, so no two populations share a colour.
    extra = labels.copy()
    extra[:5] = "newcomers"
    mapping = plots.population_colours(extra, cohort.q, colours, used=[8])
    used = {plots.cluster_colour(c) for c in [*colours, 8]}  # 8: a cluster of another model
    outside = [name for name, colour in mapping.items() if colour not in used]
    assert len(outside) == 2 and plots.UNLABELLED in outside  # unlabelled grey + the extra one
    assert len(set(mapping.values())) == len(mapping)
