"""Cohort preparation: VCF or PLINK 2 .pgen -> BED, QC, SNP downsampling, stratified
train/validation split.

Every step that writes genotypes is plink2, which streams them, so a cohort larger than RAM is
prepared in the memory plink2 asks for (--memory); the package only chooses which SNPs and
samples to keep, from the .bim and .fam.
"""


rule check_vcf:
    input:
        vcf=lambda wc: COHORTS[wc.real]["vcf"],
    output:
        "results/{real}/prepare/raw.vcf_check.tsv",
    log:
        "results/{real}/logs/check_vcf.log",
    benchmark:
        "results/{real}/benchmarks/check_vcf/check_vcf.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("check_vcf")
    resources:
        **rule_resources("check_vcf"),
    params:
        phased=lambda wc: "--require-phased" if COHORTS[wc.real].get("phased") else "",
        outdir=subpath(output[0], parent=True),
    shell:
        "python -m neuradmix check-vcf {input.vcf:q} {params.phased} --out {params.outdir:q}"
        " --name raw 2> {log:q}"


rule vcf_to_bed:
    input:
        vcf=lambda wc: COHORTS[wc.real]["vcf"],
        check="results/{real}/prepare/raw.vcf_check.tsv",
    output:
        **fileset("results/{real}/prepare/raw"),
    log:
        "results/{real}/logs/vcf_to_bed.log",
    benchmark:
        "results/{real}/benchmarks/vcf_to_bed/vcf_to_bed.tsv"
    wildcard_constraints:
        real=_alternatives(VCF_COHORTS),
    conda:
        "../../envs/plink2.yaml"
    threads: rule_threads("vcf_to_bed")
    resources:
        **rule_resources("vcf_to_bed"),
    params:
        prefix=subpath(output.bed, strip_suffix=".bed"),
        import_flags=PLINK2_IMPORT,
        memory=plink_memory,
    shell:
        "plink2 --vcf {input.vcf:q} {params.import_flags}"
        " --make-bed --out {params.prefix:q} --threads {threads} --memory {params.memory}"
        " > {log:q} 2>&1"


rule pgen_to_bed:
    input:
        unpack(pgen_input),
    output:
        **fileset("results/{real}/prepare/raw"),
    log:
        "results/{real}/logs/pgen_to_bed.log",
    benchmark:
        "results/{real}/benchmarks/pgen_to_bed/pgen_to_bed.tsv"
    wildcard_constraints:
        real=_alternatives(PGEN_COHORTS),
    conda:
        "../../envs/plink2.yaml"
    threads: rule_threads("pgen_to_bed")
    resources:
        **rule_resources("pgen_to_bed"),
    params:
        inprefix=lambda wc, input: input.pgen[: -len(".pgen")],
        prefix=subpath(output.bed, strip_suffix=".bed"),
        import_flags=PLINK2_IMPORT,
        memory=plink_memory,
    shell:
        "plink2 --pfile {params.inprefix:q} {params.import_flags}"
        " --make-bed --out {params.prefix:q} --threads {threads} --memory {params.memory}"
        " > {log:q} 2>&1"


# SNPs without an ID get chr:pos:ref:alt, and SNPs whose ID is duplicated are dropped, so that
# every later --extract selects exactly the SNPs it lists.
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
    threads: rule_threads("qc")
    resources:
        **rule_resources("qc"),
    params:
        inprefix=lambda wc, input: input.bed[: -len(".bed")],
        prefix=subpath(output.bed, strip_suffix=".bed"),
        maf=QC["maf"],
        geno=QC["snp_missing"],
        mind=QC["sample_missing"],
        memory=plink_memory,
    shell:
        "plink2 --bfile {params.inprefix:q} --allow-extra-chr --maf {params.maf}"
        " --geno {params.geno} --mind {params.mind}"
        " --set-missing-var-ids '@:#:$r:$a' --new-id-max-allele-len 1000 --rm-dup exclude-all"
        " --make-bed --out {params.prefix:q} --threads {threads} --memory {params.memory}"
        " > {log:q} 2>&1"


if DS["method"] == "uniform":
    if (DS["every"] is None) == (DS["target_snps"] is None):
        config_error(
            "downsample: the uniform method needs exactly one of 'every' or 'target_snps'."
        )

    rule snp_list:
        input:
            bim="results/{real}/prepare/qc.bim",
        output:
            "results/{real}/prepare/ds.snps",
        log:
            "results/{real}/logs/snp_list.log",
        benchmark:
            "results/{real}/benchmarks/snp_list/snp_list.tsv"
        conda:
            "../../envs/neuradmix.yaml"
        threads: rule_threads("snp_list")
        resources:
            **rule_resources("snp_list"),
        params:
            how=(
                f"--every {DS['every']}"
                if DS["every"] is not None
                else f"--target {DS['target_snps']}"
            ),
            outdir=subpath(output[0], parent=True),
        shell:
            "python -m neuradmix downsample {input.bim:q} {params.how} --out {params.outdir:q}"
            " --name ds 2> {log:q}"

elif DS["method"] == "ld_prune":

    rule snp_list:
        input:
            **fileset("results/{real}/prepare/qc"),
        output:
            "results/{real}/prepare/ds.prune.in",
        log:
            "results/{real}/logs/snp_list.log",
        benchmark:
            "results/{real}/benchmarks/snp_list/snp_list.tsv"
        conda:
            "../../envs/plink2.yaml"
        threads: rule_threads("snp_list")
        resources:
            **rule_resources("snp_list"),
        params:
            inprefix=subpath(input.bed, strip_suffix=".bed"),
            prefix=subpath(output[0], strip_suffix=".prune.in"),
            window=DS["window"],
            step=DS["step"],
            r2=DS["r2"],
            memory=plink_memory,
        shell:
            "plink2 --bfile {params.inprefix:q} --allow-extra-chr"
            " --indep-pairwise {params.window} {params.step} {params.r2}"
            " --out {params.prefix:q} --threads {threads} --memory {params.memory} > {log:q} 2>&1"


rule downsample:
    input:
        **fileset("results/{real}/prepare/qc"),
        snps=f"results/{{real}}/prepare/{SNP_LIST}",
    output:
        **fileset("results/{real}/prepare/ds"),
    log:
        "results/{real}/logs/downsample.log",
    benchmark:
        "results/{real}/benchmarks/downsample/downsample.tsv"
    conda:
        "../../envs/plink2.yaml"
    threads: rule_threads("downsample")
    resources:
        **rule_resources("downsample"),
    params:
        inprefix=subpath(input.bed, strip_suffix=".bed"),
        prefix=subpath(output.bed, strip_suffix=".bed"),
        memory=plink_memory,
    shell:
        "plink2 --bfile {params.inprefix:q} --allow-extra-chr --extract {input.snps:q}"
        " --make-bed --out {params.prefix:q} --threads {threads} --memory {params.memory}"
        " > {log:q} 2>&1"


rule split:
    input:
        unpack(split_labels),
        fam=lambda wc: downsampled(wc)["fam"],
    output:
        train_keep="results/{real}/prepare/train.keep",
        val_keep="results/{real}/prepare/val.keep",
        train_labels="results/{real}/prepare/train.labels",
        val_labels="results/{real}/prepare/val.labels",
    log:
        "results/{real}/logs/split.log",
    benchmark:
        "results/{real}/benchmarks/split/split.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("split")
    resources:
        **rule_resources("split"),
    params:
        outdir=subpath(output.train_keep, parent=True),
        labels=lambda wc, input: (
            f"--labels {shlex.quote(input.labels)}" if "labels" in input.keys() else ""
        ),
        fraction=VAL_FRACTION,
        seed=SEED,
    shell:
        "python -m neuradmix split {input.fam:q} --out {params.outdir:q} {params.labels}"
        " --validation-fraction {params.fraction} --seed {params.seed} 2> {log:q}"


rule partition:
    input:
        unpack(downsampled),
        keep="results/{real}/prepare/{partition}.keep",
    output:
        **fileset("results/{real}/prepare/{partition}"),
    log:
        "results/{real}/logs/partition/{partition}.log",
    benchmark:
        "results/{real}/benchmarks/partition/{partition}.tsv"
    conda:
        "../../envs/plink2.yaml"
    threads: rule_threads("partition")
    resources:
        **rule_resources("partition"),
    params:
        inprefix=lambda wc, input: input.bed[: -len(".bed")],
        prefix=subpath(output.bed, strip_suffix=".bed"),
        memory=plink_memory,
    shell:
        "plink2 --bfile {params.inprefix:q} --allow-extra-chr --keep {input.keep:q}"
        " --make-bed --out {params.prefix:q} --threads {threads} --memory {params.memory}"
        " > {log:q} 2>&1"


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
    threads: rule_threads("target_vcf_to_bed")
    resources:
        **rule_resources("target_vcf_to_bed"),
    params:
        prefix=subpath(output.bed, strip_suffix=".bed"),
        import_flags=PLINK2_IMPORT,
        memory=plink_memory,
    shell:
        "plink2 --vcf {input.vcf:q} {params.import_flags}"
        " --make-bed --out {params.prefix:q} --threads {threads} --memory {params.memory}"
        " > {log:q} 2>&1"


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
    threads: rule_threads("target_match")
    resources:
        **rule_resources("target_match"),
    params:
        outdir=subpath(output.bed, parent=True),
    shell:
        "python -m neuradmix match-snps {input.bed:q} --reference {input.reference:q}"
        " --out {params.outdir:q} --name matched 2> {log:q}"
