"""Neural ADMIXTURE: training, inference on the validation partition and on target cohorts, one
rule each with the run as a wildcard.

A run's K values (one, or a multi-head range) fix its .Q/.P files, so a rule declares the
files that do not depend on K: the model, the loss table and the timing sidecar, which the
command writes in one all-or-nothing step together with every NAME.{K}.Q/.P. Consumers wait
for the sidecar and read the files of each K beside it.
"""

RUN_DIR = layout.run_dir("{cohort}", "{run}")


rule train_neural:
    input:
        unpack(lambda wc: PLAN.train_inputs(wc.cohort, wc.run)),
    output:
        model=layout.model_checkpoint("{cohort}", "{run}"),
        loss=layout.loss_table("{cohort}", "{run}"),
        timing=layout.timing(RUN_DIR, "train"),
    log:
        layout.log("{cohort}", "train_neural", "{run}"),
    benchmark:
        layout.benchmark("{cohort}", "train_neural", "{run}")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("train_neural")
    resources:
        **rule_resources("train_neural", per_run=True),
    params:
        options=lambda wc: PLAN.train_options(wc.cohort, wc.run),
        outdir=subpath(output.model, parent=True),
        epochs=lambda wc: PLAN.run_setting(wc.run, "epochs"),
        lam=lambda wc: PLAN.run_setting(wc.run, "lambda"),
        device=lambda wc: PLAN.run_device(wc.run),
        seed=SEED,
        # A resume checkpoint, not an output: it survives a job killed at a time limit, and
        # the re-submitted job continues from it (the command deletes it when done).
        checkpoint=layout.resume_checkpoint(RUN_DIR, "train"),
    # The log gets one line per epoch (no progress bar: stderr is a file here).
    shell:
        "python -m neuradmix train {input.bed:q} {params.options} --out {params.outdir:q}"
        " --name train --epochs {params.epochs} --lambda {params.lam}"
        " --device {params.device} --seed {params.seed} --threads {threads}"
        " --checkpoint {params.checkpoint:q} > {log:q} 2>&1"


rule infer:
    input:
        unpack(partition_files("val")),
        model=layout.model_checkpoint("{cohort}", "{run}"),
    output:
        timing=layout.timing(RUN_DIR, "val"),
    log:
        layout.log("{cohort}", "infer", "{run}"),
    benchmark:
        layout.benchmark("{cohort}", "infer", "{run}")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("infer")
    resources:
        **rule_resources("infer", per_run=True),
    params:
        outdir=subpath(input.model, parent=True),
        device=lambda wc: PLAN.run_device(wc.run),
    shell:
        "python -m neuradmix infer {input.bed:q} --model {input.model:q} --out {params.outdir:q}"
        " --name val --device {params.device} --threads {threads} > {log:q} 2>&1"


rule infer_target:
    input:
        **fileset(layout.target_prefix("{real}", "{target}", "matched")),
        model=layout.model_checkpoint("{real}", "{run}"),
    output:
        timing=layout.target_timing("{real}", "{run}", "{target}"),
    log:
        layout.log("{real}", "infer_target", "{run}.{target}"),
    benchmark:
        layout.benchmark("{real}", "infer_target", "{run}.{target}")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("infer_target")
    resources:
        **rule_resources("infer_target", per_run=True),
    params:
        outdir=subpath(output.timing, parent=True),
        device=lambda wc: PLAN.run_device(wc.run),
    shell:
        "python -m neuradmix infer {input.bed:q} --model {input.model:q} --out {params.outdir:q}"
        " --name {wildcards.target} --device {params.device} --threads {threads} > {log:q} 2>&1"
