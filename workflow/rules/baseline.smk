"""Classic ADMIXTURE baseline per K, projection of the validation samples, cross-validation
(held-out genotype entries scored by deviance, per K, with block relaxation or the network).
"""

TOOL_DIR = layout.baseline_dir("{cohort}", "{tool}")


rule baseline:
    input:
        unpack(partition_files("train")),
    output:
        q=layout.q_file(TOOL_DIR, "train", "{k}"),
        p=layout.p_file(TOOL_DIR, "train", "{k}"),
        timing=layout.timing(TOOL_DIR, "train", "{k}"),
    log:
        layout.log("{cohort}", "baseline", "{tool}.{k}"),
    benchmark:
        layout.benchmark("{cohort}", "baseline", "{tool}.{k}")
    conda:
        "../../envs/admixture.yaml"
    threads: rule_threads("baseline")
    resources:
        **rule_resources("baseline"),
    params:
        outdir=subpath(output.q, parent=True),
        seed=SEED,
        # A resume checkpoint of our EM (external tools start afresh), not an output: it
        # survives a job killed at a time limit and the re-submitted job continues from it.
        checkpoint=layout.resume_checkpoint(TOOL_DIR, "train.{k}"),
    shell:
        "python -m neuradmix baseline {input.bed:q} --k {wildcards.k} --tool {wildcards.tool}"
        " --out {params.outdir:q} --name train --seed {params.seed} --threads {threads}"
        " --checkpoint {params.checkpoint:q} > {log:q} 2>&1"


rule project:
    input:
        unpack(partition_files("val")),
        p=layout.p_file(TOOL_DIR, "train", "{k}"),
    output:
        q=layout.q_file(TOOL_DIR, "val", "{k}"),
        timing=layout.timing(TOOL_DIR, "val", "{k}"),
    log:
        layout.log("{cohort}", "project", "{tool}.{k}"),
    benchmark:
        layout.benchmark("{cohort}", "project", "{tool}.{k}")
    conda:
        "../../envs/admixture.yaml"
    threads: rule_threads("project")
    resources:
        **rule_resources("project"),
    params:
        outdir=subpath(output.q, parent=True),
        # admixture -P projects ADMIXTURE fits; our block relaxation projects everything else.
        tool=lambda wc: {"admixture": "admixture", "auto": "auto"}.get(wc.tool, "em"),
        seed=SEED,
    shell:
        "python -m neuradmix project {input.bed:q} --p {input.p:q} --out {params.outdir:q}"
        " --name val --tool {params.tool} --seed {params.seed} --threads {threads}"
        " > {log:q} 2>&1"


rule cv:
    input:
        unpack(partition_files("train")),
    output:
        layout.cv_table("{cohort}", "{cv_method}"),
    log:
        layout.log("{cohort}", "cv", "{cv_method}"),
    benchmark:
        layout.benchmark("{cohort}", "cv", "{cv_method}")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("cv")
    resources:
        **rule_resources("cv"),
    params:
        min_k=config["cv"]["min_k"],
        max_k=config["cv"]["max_k"],
        folds=config["cv"]["folds"],
        epochs=config["neural"]["epochs"],
        seed=SEED,
        outdir=subpath(output[0], parent=True),
        # A resume checkpoint (the folds done), not an output: a re-submitted job skips them.
        checkpoint=layout.cv_checkpoint("{cohort}", "{cv_method}"),
    shell:
        "python -m neuradmix cv {input.bed:q} --min-k {params.min_k} --max-k {params.max_k}"
        " --folds {params.folds} --method {wildcards.cv_method} --epochs {params.epochs}"
        " --seed {params.seed} --threads {threads} --out {params.outdir:q}"
        " --name {wildcards.cv_method} --checkpoint {params.checkpoint:q} > {log:q} 2>&1"
