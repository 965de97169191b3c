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
    resources:
        mem_mb=4000,
    params:
        train=subpath(input.bed, strip_suffix=".bed"),
        options=plots_options,
        ks=" ".join(str(k) for k in ALL_KS),
        main_k=MAIN_K,
        max_samples=REPORT_MAX_SAMPLES,
        seed=SEED,
        outdir=subpath(output.manifest, parent=True),
    shell:
        "neuradmix plots --train-bed {params.train} --val-bed {input.val_fam} {params.options}"
        " --k {params.ks} --main-k {params.main_k} --max-samples {params.max_samples}"
        " --seed {params.seed} --out-dir {params.outdir} > {log} 2>&1"


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
    params:
        figures=lambda wc: f"results/{wc.cohort}/figures",
        options=report_options,
        config=json.dumps(config, default=str),
    shell:
        "neuradmix report --cohort {wildcards.cohort} --figures {params.figures}"
        " --table2 {input.table2} --metrics {input.metrics} {params.options}"
        " --config-json {params.config:q} --out {output} > {log} 2>&1"
