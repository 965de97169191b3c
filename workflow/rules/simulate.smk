"""Simulated cohorts {name}_sim: descendants of each partition's phased founders, simulated
separately for training and validation founders (so no founder reaches both), with truth Q.

The founders are the cohort's samples and SNPs left after QC and downsampling, taken from the
phased VCF so that their phase survives; the validation founders are those of the real split.
"""


rule founders:
    input:
        vcf=lambda wc: COHORTS[wc.real]["vcf"],
        check="results/{real}/prepare/raw.vcf_check.tsv",
        bim=lambda wc: downsampled(wc)["bim"],
        fam=lambda wc: downsampled(wc)["fam"],
    output:
        "results/{real}/simulate/founders.vcf.gz",
    log:
        "results/{real}/logs/founders.log",
    benchmark:
        "results/{real}/benchmarks/founders/founders.tsv"
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


rule simulate:
    input:
        vcf="results/{real}/simulate/founders.vcf.gz",
        labels=lambda wc: COHORTS[wc.real]["labels"],
        val="results/{real}/prepare/val.keep",
        genetic_map=lambda wc: COHORTS[wc.real].get("genetic_map", []),
    output:
        **fileset("results/{real}_sim/prepare/sim.train"),
        **{
            f"val_{k}": v
            for k, v in fileset("results/{real}_sim/prepare/sim.val").items()
        },
        train_labels="results/{real}_sim/prepare/sim.train.labels",
        val_labels="results/{real}_sim/prepare/sim.val.labels",
        train_truth="results/{real}_sim/prepare/sim.train.truth.Q",
        val_truth="results/{real}_sim/prepare/sim.val.truth.Q",
        founders="results/{real}_sim/prepare/sim.founders.tsv",
    log:
        "results/{real}/logs/simulate.log",
    benchmark:
        "results/{real}/benchmarks/simulate/simulate.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("simulate")
    resources:
        **rule_resources("simulate"),
    params:
        outdir=subpath(output.founders, parent=True),
        rate=lambda wc, input: (
            f"--map {input.genetic_map}"
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
