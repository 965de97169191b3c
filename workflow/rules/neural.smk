"""Neural ADMIXTURE: one training rule and one inference rule per configured run.

A run's K values fix its output files, so each run gets its own pair of rules
(train_neural_{run}, infer_{run}); the cohort stays a wildcard.
"""

for _run in RUNS:

    rule:
        name:
            f"train_neural_{_run}"
        input:
            unpack(_train_inputs(_run)),
        output:
            q=expand(
                "results/{{cohort}}/neural/{run}/train.{k}.Q", run=_run, k=run_ks(_run)
            ),
            p=expand(
                "results/{{cohort}}/neural/{run}/train.{k}.P", run=_run, k=run_ks(_run)
            ),
            model=f"results/{{cohort}}/neural/{_run}/train.model.pt",
            loss=f"results/{{cohort}}/neural/{_run}/train.loss.tsv",
        log:
            f"results/{{cohort}}/logs/train_neural/{_run}.log",
        benchmark:
            f"results/{{cohort}}/benchmarks/train_neural/{_run}.tsv"
        conda:
            "../../envs/neuradmix.yaml"
        threads: 4
        resources:
            gpu=_gpus(_run),
            mem_mb=8000,
        params:
            options=_train_options(_run),
            outdir=subpath(output.model, parent=True),
            epochs=run_setting(_run, "epochs"),
            lam=run_setting(_run, "lambda"),
            device=run_setting(_run, "device"),
            seed=SEED,
        shell:
            "neuradmix train {input.bed} {params.options} --out {params.outdir} --name train"
            " --epochs {params.epochs} --lambda {params.lam} --device {params.device}"
            " --seed {params.seed} --threads {threads} > {log} 2>&1"

    rule:
        name:
            f"infer_{_run}"
        input:
            unpack(partition_files("val")),
            model=f"results/{{cohort}}/neural/{_run}/train.model.pt",
        output:
            q=expand(
                "results/{{cohort}}/neural/{run}/val.{k}.Q", run=_run, k=run_ks(_run)
            ),
        log:
            f"results/{{cohort}}/logs/infer/{_run}.log",
        benchmark:
            f"results/{{cohort}}/benchmarks/infer/{_run}.tsv"
        conda:
            "../../envs/neuradmix.yaml"
        threads: 4
        resources:
            gpu=_gpus(_run),
            mem_mb=4000,
        params:
            outdir=subpath(input.model, parent=True),
            device=run_setting(_run, "device"),
        shell:
            "neuradmix infer {input.bed} --model {input.model} --out {params.outdir} --name val"
            " --device {params.device} --threads {threads} > {log} 2>&1"

    rule:
        name:
            f"infer_target_{_run}"
        input:
            **fileset("results/{real}/targets/{target}/matched"),
            model=f"results/{{real}}/neural/{_run}/train.model.pt",
        output:
            q=expand(
                "results/{{real}}/neural/{run}/targets/{{target}}.{k}.Q",
                run=_run,
                k=run_ks(_run),
            ),
        log:
            f"results/{{real}}/logs/infer/{_run}.{{target}}.log",
        benchmark:
            f"results/{{real}}/benchmarks/infer_target/{_run}.{{target}}.tsv"
        conda:
            "../../envs/neuradmix.yaml"
        threads: 4
        resources:
            gpu=_gpus(_run),
            mem_mb=4000,
        params:
            outdir=subpath(input.model, parent=True),
            device=run_setting(_run, "device"),
        shell:
            "neuradmix infer {input.bed} --model {input.model} --out {params.outdir}/targets"
            " --name {wildcards.target} --device {params.device} --threads {threads}"
            " > {log} 2>&1"
