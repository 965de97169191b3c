"""Neural ADMIXTURE: training, inference on the validation partition and on target cohorts, one
rule each with the run as a wildcard.

A run's K values (one, or a multi-head range) fix its .Q/.P files, so a rule declares the
files that do not depend on K: the model, the loss table and the timing sidecar, which the
command writes in one all-or-nothing step together with every NAME.{K}.Q/.P. Consumers wait
for the sidecar and read the files of each K beside it.
"""


rule train_neural:
    input:
        unpack(train_inputs),
    output:
        model="results/{cohort}/neural/{run}/train.model.pt",
        loss="results/{cohort}/neural/{run}/train.loss.tsv",
        timing="results/{cohort}/neural/{run}/train.timing.tsv",
    log:
        "results/{cohort}/logs/train_neural/{run}.log",
    benchmark:
        "results/{cohort}/benchmarks/train_neural/{run}.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("train_neural")
    resources:
        **rule_resources("train_neural", per_run=True),
    params:
        options=train_options,
        outdir=subpath(output.model, parent=True),
        epochs=lambda wc: run_setting(wc.run, "epochs"),
        lam=lambda wc: run_setting(wc.run, "lambda"),
        device=lambda wc: run_device(wc.run),
        seed=SEED,
        # A resume checkpoint, not an output: it survives a job killed at a time limit, and
        # the re-submitted job continues from it (the command deletes it when done).
        checkpoint="results/{cohort}/neural/{run}/train.resume.npz",
    # The log gets one line per epoch (no progress bar: stderr is a file here).
    shell:
        "python -m neuradmix train {input.bed:q} {params.options} --out {params.outdir:q}"
        " --name train --epochs {params.epochs} --lambda {params.lam}"
        " --device {params.device} --seed {params.seed} --threads {threads}"
        " --checkpoint {params.checkpoint:q} > {log:q} 2>&1"


rule infer:
    input:
        unpack(partition_files("val")),
        model="results/{cohort}/neural/{run}/train.model.pt",
    output:
        timing="results/{cohort}/neural/{run}/val.timing.tsv",
    log:
        "results/{cohort}/logs/infer/{run}.log",
    benchmark:
        "results/{cohort}/benchmarks/infer/{run}.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("infer")
    resources:
        **rule_resources("infer", per_run=True),
    params:
        outdir=subpath(input.model, parent=True),
        device=lambda wc: run_device(wc.run),
    shell:
        "python -m neuradmix infer {input.bed:q} --model {input.model:q} --out {params.outdir:q}"
        " --name val --device {params.device} --threads {threads} > {log:q} 2>&1"


rule infer_target:
    input:
        **fileset("results/{real}/targets/{target}/matched"),
        model="results/{real}/neural/{run}/train.model.pt",
    output:
        timing="results/{real}/neural/{run}/targets/{target}.timing.tsv",
    log:
        "results/{real}/logs/infer_target/{run}.{target}.log",
    benchmark:
        "results/{real}/benchmarks/infer_target/{run}.{target}.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("infer_target")
    resources:
        **rule_resources("infer_target", per_run=True),
    params:
        outdir=subpath(output.timing, parent=True),
        device=lambda wc: run_device(wc.run),
    shell:
        "python -m neuradmix infer {input.bed:q} --model {input.model:q} --out {params.outdir:q}"
        " --name {wildcards.target} --device {params.device} --threads {threads} > {log:q} 2>&1"
