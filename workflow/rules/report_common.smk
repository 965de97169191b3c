"""Helpers of workflow/rules/report.smk: which figures a cohort gets (the package's catalogue,
neuradmix.report.figures.FIGURES) and their inputs; what the plots and report jobs read beyond
their files is in a manifest the plan writes (rule job_inputs)."""

from neuradmix.report.figures import figure_specs

REPORT_MAX_SAMPLES = 3000
FIGURES = figure_specs(
    cv=bool(PLAN.cv_ks), loss=bool(RUNS), lambda_sweep=bool(PLAN.lambda_runs)
)


def plots_inputs(wc):
    """Every file the figures draw from, and the manifest that says which is which."""
    train = PLAN.partition_prefix(wc.cohort, "train")
    val = PLAN.partition_prefix(wc.cohort, "val")
    return {
        **fileset(train),
        "val_fam": fileset(val)["fam"],
        "labels": labels_of("train")(wc) + labels_of("val")(wc),
        "models": all_model_files(wc),
        "loss": [layout.loss_table(wc.cohort, run) for run in RUNS],
        "truth": truth_of("train")(wc) + truth_of("val")(wc),
        "cv": cv_tables(wc),
        "manifest": layout.job_inputs(wc.cohort, "plots"),
    }


def plots_outputs():
    """Every figure of the catalogue this config draws, offered to snakemake --report with its
    caption (workflow/report/NAME.rst), plus the manifest."""
    outputs = {
        f"figure_{spec.name}": report(
            layout.figure("{cohort}", spec.name),
            caption=f"../report/{spec.name}.rst",
            category="{cohort}",
            subcategory=spec.category,
            labels={"figure": spec.label},
        )
        for spec in FIGURES
    }
    outputs["manifest"] = layout.figures_manifest("{cohort}")
    return outputs


def report_inputs(wc):
    cohort = wc.cohort
    return {
        # Plain paths: the report() flags belong to the outputs of the plots rule only.
        "figures": [layout.figure(cohort, spec.name) for spec in FIGURES],
        "manifest": layout.figures_manifest(cohort),
        "table2": layout.table2(cohort),
        "metrics": layout.metrics(cohort),
        "stages": [
            path
            for _, prefix in PLAN.report_stages(cohort)
            for ext, path in fileset(prefix).items()
            if ext != "bed"
        ],
        "labels": labels_of("train")(wc) + labels_of("val")(wc),
        "cv": cv_tables(wc),
        "inputs": layout.job_inputs(cohort, "report"),
    }
