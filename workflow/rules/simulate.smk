"""Simulated cohorts {name}_sim: descendants of each partition's phased founders, simulated
separately for training and validation founders (so no founder reaches both), with truth Q.

The founders are the cohort's samples and SNPs left after QC and downsampling, taken from the
phased VCF so that their phase survives; the validation founders are those of the real split.
"""


rule founders:
    input:
        vcf=lambda wc: PLAN.entry(wc.real)["vcf"],
        check=layout.vcf_check("{real}"),
        bim=lambda wc: downsampled(wc)["bim"],
        fam=lambda wc: downsampled(wc)["fam"],
    output:
        layout.founders_vcf("{real}"),
    log:
        layout.log("{real}", "founders"),
    benchmark:
        layout.benchmark("{real}", "founders")
    conda:
        "../../envs/plink2.yaml"
    threads: rule_threads("founders")
    resources:
        **rule_resources("founders"),
    params:
        prefix=subpath(output[0], strip_suffix=".vcf.gz"),
        import_flags=PLINK2_IMPORT,
        memory=plink_memory,
    shell:
        "plink2 --vcf {input.vcf:q} {params.import_flags}"
        " --extract {input.bim:q} --keep {input.fam:q} --export vcf bgz id-paste=iid"
        " --out {params.prefix:q} --threads {threads} --memory {params.memory} > {log:q} 2>&1"


SIM = config["simulate"]
SIM_TRAIN = layout.simulated_prefix("{real}_sim", "train")
SIM_VAL = layout.simulated_prefix("{real}_sim", "val")


rule simulate:
    input:
        vcf=layout.founders_vcf("{real}"),
        labels=lambda wc: PLAN.entry(wc.real)["labels"],
        val=layout.keep("{real}", "val"),
        genetic_map=lambda wc: PLAN.entry(wc.real).get("genetic_map", []),
    output:
        **fileset(SIM_TRAIN),
        **{f"val_{k}": v for k, v in fileset(SIM_VAL).items()},
        train_labels=layout.labels(SIM_TRAIN),
        val_labels=layout.labels(SIM_VAL),
        train_truth=layout.truth(SIM_TRAIN),
        val_truth=layout.truth(SIM_VAL),
        founders=layout.sim_founders("{real}_sim"),
    log:
        layout.log("{real}", "simulate"),
    benchmark:
        layout.benchmark("{real}", "simulate")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("simulate")
    resources:
        **rule_resources("simulate"),
    params:
        outdir=subpath(output.founders, parent=True),
        rate=lambda wc, input: (
            f"--map {shlex.quote(input.genetic_map)}"
            if input.genetic_map
            else f"--cm-per-mb {SIM['cm_per_mb']}"
        ),
        n_train=SIM["n_per_population"],
        n_val=SIM["n_val_per_population"],
        n_single=SIM["n_single_per_population"],
        n_val_single=SIM["n_val_single_per_population"],
        generations=SIM["generations"],
        alpha=SIM["alpha"],
        populations=(
            f"--populations {','.join(SIM['populations'])}"
            if SIM["populations"]
            else ""
        ),
        seed=SEED,
    shell:
        "python -m neuradmix simulate-split --vcf {input.vcf:q} --labels {input.labels:q}"
        " {params.rate} --val-samples {input.val:q} --n-per-ancestry {params.n_train}"
        " --n-val-per-ancestry {params.n_val} --n-single-per-ancestry {params.n_single}"
        " --n-val-single-per-ancestry {params.n_val_single} --generations {params.generations}"
        " --alpha {params.alpha} {params.populations} --seed {params.seed} --threads {threads}"
        " --bed --no-vcf --out {params.outdir:q} --name sim 2> {log:q}"
