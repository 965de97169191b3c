"""Cohort preparation: VCF -> BED, QC, SNP downsampling, stratified train/validation split."""


rule check_vcf:
    input:
        vcf=lambda wc: COHORTS[wc.real]["vcf"],
    output:
        "results/{real}/prepare/vcf_check.tsv",
    log:
        "results/{real}/logs/check_vcf.log",
    benchmark:
        "results/{real}/benchmarks/check_vcf/check_vcf.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    params:
        phased=lambda wc: "--require-phased" if COHORTS[wc.real].get("phased") else "",
    shell:
        "neuradmix check-vcf {input.vcf} {params.phased} --out {output} 2> {log}"


rule vcf_to_bed:
    input:
        vcf=lambda wc: COHORTS[wc.real]["vcf"],
        check="results/{real}/prepare/vcf_check.tsv",
    output:
        **fileset("results/{real}/prepare/raw"),
    log:
        "results/{real}/logs/vcf_to_bed.log",
    benchmark:
        "results/{real}/benchmarks/vcf_to_bed/vcf_to_bed.tsv"
    conda:
        "../../envs/plink2.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        prefix=subpath(output.bed, strip_suffix=".bed"),
    shell:
        "plink2 --vcf {input.vcf} --max-alleles 2 --snps-only just-acgt --allow-extra-chr"
        " --set-all-var-ids '@:#:$r:$a' --new-id-max-allele-len 1000 --rm-dup exclude-all"
        " --make-bed --out {params.prefix} --threads {threads} --memory {resources.mem_mb}"
        " > {log} 2>&1"


rule qc:
    input:
        unpack(qc_input),
    output:
        **fileset("results/{real}/prepare/qc"),
    log:
        "results/{real}/logs/qc.log",
    benchmark:
        "results/{real}/benchmarks/qc/qc.tsv"
    conda:
        "../../envs/plink2.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        inprefix=lambda wc, input: input.bed[: -len(".bed")],
        prefix=subpath(output.bed, strip_suffix=".bed"),
        maf=QC["maf"],
        geno=QC["snp_missing"],
        mind=QC["sample_missing"],
    shell:
        "plink2 --bfile {params.inprefix} --allow-extra-chr --maf {params.maf}"
        " --geno {params.geno} --mind {params.mind} --make-bed --out {params.prefix}"
        " --threads {threads} --memory {resources.mem_mb} > {log} 2>&1"


if DS["method"] == "uniform":
    if (DS["every"] is None) == (DS["target_snps"] is None):
        config_error(
            "downsample: the uniform method needs exactly one of 'every' or 'target_snps'."
        )

    rule downsample:
        input:
            **fileset("results/{real}/prepare/qc"),
        output:
            **fileset("results/{real}/prepare/ds"),
        log:
            "results/{real}/logs/downsample.log",
        benchmark:
            "results/{real}/benchmarks/downsample/downsample.tsv"
        conda:
            "../../envs/neuradmix.yaml"
        params:
            how=(
                f"--every {DS['every']}"
                if DS["every"] is not None
                else f"--target {DS['target_snps']}"
            ),
            prefix=subpath(output.bed, strip_suffix=".bed"),
        shell:
            "neuradmix downsample {input.bed} {params.how} --out {params.prefix} 2> {log}"

elif DS["method"] == "ld_prune":

    rule ld_prune:
        input:
            **fileset("results/{real}/prepare/qc"),
        output:
            "results/{real}/prepare/ds.prune.in",
        log:
            "results/{real}/logs/ld_prune.log",
        benchmark:
            "results/{real}/benchmarks/ld_prune/ld_prune.tsv"
        conda:
            "../../envs/plink2.yaml"
        threads: 2
        resources:
            mem_mb=4000,
        params:
            inprefix=subpath(input.bed, strip_suffix=".bed"),
            prefix=subpath(output[0], strip_suffix=".prune.in"),
            window=DS["window"],
            step=DS["step"],
            r2=DS["r2"],
        shell:
            "plink2 --bfile {params.inprefix} --allow-extra-chr"
            " --indep-pairwise {params.window} {params.step} {params.r2}"
            " --out {params.prefix} --threads {threads} --memory {resources.mem_mb} > {log} 2>&1"

    rule downsample:
        input:
            unpack(lambda wc: fileset(f"results/{wc.real}/prepare/qc")),
            keep="results/{real}/prepare/ds.prune.in",
        output:
            **fileset("results/{real}/prepare/ds"),
        log:
            "results/{real}/logs/downsample.log",
        benchmark:
            "results/{real}/benchmarks/downsample/downsample.tsv"
        conda:
            "../../envs/plink2.yaml"
        threads: 2
        resources:
            mem_mb=4000,
        params:
            inprefix=subpath(input.bed, strip_suffix=".bed"),
            prefix=subpath(output.bed, strip_suffix=".bed"),
        shell:
            "plink2 --bfile {params.inprefix} --allow-extra-chr --extract {input.keep}"
            " --make-bed --out {params.prefix} --threads {threads}"
            " --memory {resources.mem_mb} > {log} 2>&1"


rule split:
    input:
        unpack(downsampled),
        unpack(split_labels),
    output:
        **fileset("results/{real}/prepare/train"),
        **{f"val_{k}": v for k, v in fileset("results/{real}/prepare/val").items()},
        train_labels="results/{real}/prepare/train.labels",
        val_labels="results/{real}/prepare/val.labels",
    log:
        "results/{real}/logs/split.log",
    benchmark:
        "results/{real}/benchmarks/split/split.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    params:
        outdir=subpath(output.bed, parent=True),
        labels=lambda wc, input: (
            f"--labels {input.labels}" if "labels" in input.keys() else ""
        ),
        fraction=VAL_FRACTION,
        seed=SEED,
    shell:
        "neuradmix split {input.bed} --out-dir {params.outdir} {params.labels}"
        " --validation-fraction {params.fraction} --seed {params.seed} 2> {log}"


rule target_vcf_to_bed:
    input:
        vcf=lambda wc: target_path(wc.real, wc.target),
    output:
        **fileset("results/{real}/targets/{target}/raw"),
    log:
        "results/{real}/logs/targets/{target}.vcf_to_bed.log",
    benchmark:
        "results/{real}/benchmarks/target_vcf_to_bed/{target}.tsv"
    conda:
        "../../envs/plink2.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        prefix=subpath(output.bed, strip_suffix=".bed"),
    shell:
        "plink2 --vcf {input.vcf} --max-alleles 2 --snps-only just-acgt --allow-extra-chr"
        " --set-all-var-ids '@:#:$r:$a' --new-id-max-allele-len 1000 --rm-dup exclude-all"
        " --make-bed --out {params.prefix} --threads {threads} --memory {resources.mem_mb}"
        " > {log} 2>&1"


rule target_match:
    input:
        unpack(target_source),
        reference="results/{real}/prepare/train.bim",
    output:
        **fileset("results/{real}/targets/{target}/matched"),
    log:
        "results/{real}/logs/targets/{target}.match.log",
    benchmark:
        "results/{real}/benchmarks/target_match/{target}.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    params:
        prefix=subpath(output.bed, strip_suffix=".bed"),
    shell:
        "neuradmix match-snps {input.bed} --reference {input.reference}"
        " --out {params.prefix} 2> {log}"
