"""Cohort preparation: VCF or PLINK 2 .pgen -> BED, QC, SNP downsampling, stratified
train/validation split.

Every step that writes genotypes is plink2, which streams them, so a cohort larger than RAM is
prepared in the memory plink2 asks for (--memory); the package only chooses which SNPs and
samples to keep, from the .bim and .fam.
"""

DS = config["downsample"]


rule check_vcf:
    input:
        vcf=lambda wc: PLAN.entry(wc.real)["vcf"],
    output:
        layout.vcf_check("{real}"),
    log:
        layout.log("{real}", "check_vcf"),
    benchmark:
        layout.benchmark("{real}", "check_vcf")
    conda:
        "../../envs/neuradmix.yaml"
    threads: rule_threads("check_vcf")
    resources:
        **rule_resources("check_vcf"),
    params:
        phased=lambda wc: "--require-phased" if PLAN.entry(wc.real)["phased"] else "",
        outdir=subpath(output[0], parent=True),
    shell:
        "python -m neuradmix check-vcf {input.vcf:q} {params.phased} --out {params.outdir:q}"
        " --name raw 2> {log:q}"


rule vcf_to_bed:
    input:
        vcf=lambda wc: PLAN.entry(wc.real)["vcf"],
        check=layout.vcf_check("{real}"),
    output:
        **fileset(layout.prepare_prefix("{real}", "raw")),
    log:
        layout.log("{real}", "vcf_to_bed"),
    benchmark:
        layout.benchmark("{real}", "vcf_to_bed")
    wildcard_constraints:
        real=_alternatives(PLAN.cohorts_of_kind("vcf")),
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
        unpack(lambda wc: PLAN.pgen_files(wc.real)),
    output:
        **fileset(layout.prepare_prefix("{real}", "raw")),
    log:
        layout.log("{real}", "pgen_to_bed"),
    benchmark:
        layout.benchmark("{real}", "pgen_to_bed")
    wildcard_constraints:
        real=_alternatives(PLAN.cohorts_of_kind("pgen")),
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
        unpack(lambda wc: fileset(PLAN.input_prefix(wc.real))),
    output:
        **fileset(layout.prepare_prefix("{real}", "qc")),
    log:
        layout.log("{real}", "qc"),
    benchmark:
        layout.benchmark("{real}", "qc")
    conda:
        "../../envs/plink2.yaml"
    threads: rule_threads("qc")
    resources:
        **rule_resources("qc"),
    params:
        inprefix=lambda wc, input: input.bed[: -len(".bed")],
        prefix=subpath(output.bed, strip_suffix=".bed"),
        maf=config["qc"]["maf"],
        geno=config["qc"]["snp_missing"],
        mind=config["qc"]["sample_missing"],
        memory=plink_memory,
    shell:
        "plink2 --bfile {params.inprefix:q} --allow-extra-chr --maf {params.maf}"
        " --geno {params.geno} --mind {params.mind}"
        " --set-missing-var-ids '@:#:$r:$a' --new-id-max-allele-len 1000 --rm-dup exclude-all"
        " --make-bed --out {params.prefix:q} --threads {threads} --memory {params.memory}"
        " > {log:q} 2>&1"


if DS["method"] == "uniform":

    rule snp_list:
        input:
            bim=fileset(layout.prepare_prefix("{real}", "qc"))["bim"],
        output:
            layout.snp_list("{real}", PLAN.snp_list_name),
        log:
            layout.log("{real}", "snp_list"),
        benchmark:
            layout.benchmark("{real}", "snp_list")
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
            **fileset(layout.prepare_prefix("{real}", "qc")),
        output:
            layout.snp_list("{real}", PLAN.snp_list_name),
        log:
            layout.log("{real}", "snp_list"),
        benchmark:
            layout.benchmark("{real}", "snp_list")
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
        **fileset(layout.prepare_prefix("{real}", "qc")),
        snps=layout.snp_list("{real}", PLAN.snp_list_name),
    output:
        **fileset(layout.prepare_prefix("{real}", "ds")),
    log:
        layout.log("{real}", "downsample"),
    benchmark:
        layout.benchmark("{real}", "downsample")
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
        train_keep=layout.keep("{real}", "train"),
        val_keep=layout.keep("{real}", "val"),
        train_labels=layout.labels(layout.prepare_prefix("{real}", "train")),
        val_labels=layout.labels(layout.prepare_prefix("{real}", "val")),
    log:
        layout.log("{real}", "split"),
    benchmark:
        layout.benchmark("{real}", "split")
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
        fraction=config["split"]["validation_fraction"],
        seed=SEED,
    shell:
        "python -m neuradmix split {input.fam:q} --out {params.outdir:q} {params.labels}"
        " --validation-fraction {params.fraction} --seed {params.seed} 2> {log:q}"


rule partition:
    input:
        unpack(downsampled),
        keep=layout.keep("{real}", "{partition}"),
    output:
        **fileset(layout.prepare_prefix("{real}", "{partition}")),
    log:
        layout.log("{real}", "partition", "{partition}"),
    benchmark:
        layout.benchmark("{real}", "partition", "{partition}")
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
        vcf=lambda wc: PLAN.target_path(wc.real, wc.target),
    output:
        **fileset(layout.target_prefix("{real}", "{target}", "raw")),
    log:
        layout.log("{real}", "targets", "{target}.vcf_to_bed"),
    benchmark:
        layout.benchmark("{real}", "target_vcf_to_bed", "{target}")
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
        unpack(lambda wc: fileset(PLAN.target_source(wc.real, wc.target))),
        reference=fileset(layout.prepare_prefix("{real}", "train"))["bim"],
    output:
        **fileset(layout.target_prefix("{real}", "{target}", "matched")),
    log:
        layout.log("{real}", "targets", "{target}.match"),
    benchmark:
        layout.benchmark("{real}", "target_match", "{target}")
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
