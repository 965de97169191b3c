"""Figures and the self-contained HTML report of each cohort (also offered to snakemake --report)."""


include: "report_common.smk"


rule plots:
    input:
        unpack(plots_inputs),
    output:
        **plots_outputs(),
    log:
        "results/{cohort}/logs/plots.log",
    benchmark:
        "results/{cohort}/benchmarks/plots/plots.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("plots")
    resources:
        **rule_resources("plots"),
    params:
        train=subpath(input.bed, strip_suffix=".bed"),
        options=plots_options,
        ks=" ".join(str(k) for k in ALL_KS),
        main_k=MAIN_K,
        max_samples=REPORT_MAX_SAMPLES,
        seed=SEED,
        outdir=subpath(output.manifest, parent=True),
    shell:
        "python -m neuradmix plots --train-bed {params.train:q} --val-bed {input.val_fam:q}"
        " {params.options} --k {params.ks} --main-k {params.main_k}"
        " --max-samples {params.max_samples} --seed {params.seed} --out {params.outdir:q}"
        " 2> {log:q}"


rule report:
    input:
        unpack(report_inputs),
    output:
        report(
            "results/{cohort}/report.html",
            caption="../report/report.rst",
            category="{cohort}",
            subcategory="Report",
            labels={"figure": "HTML report"},
        ),
    log:
        "results/{cohort}/logs/report.log",
    benchmark:
        "results/{cohort}/benchmarks/report/report.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("report")
    resources:
        **rule_resources("report"),
    params:
        figures=subpath(input.manifest, parent=True),
        options=report_options,
        config=json.dumps(config, default=str),
        outdir=subpath(output[0], parent=True),
    shell:
        "python -m neuradmix report --cohort {wildcards.cohort} --figures {params.figures:q}"
        " --table2 {input.table2} --metrics {input.metrics:q} {params.options}"
        " --config-json {params.config:q} --out {params.outdir:q} --name report 2> {log:q}"
