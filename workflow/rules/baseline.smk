"""Classic ADMIXTURE baseline per K, projection of the validation samples, cross-validation."""


rule baseline:
    input:
        unpack(partition_files("train")),
    output:
        q="results/{cohort}/baseline/{tool}/train.{k}.Q",
        p="results/{cohort}/baseline/{tool}/train.{k}.P",
    log:
        "results/{cohort}/logs/baseline/{tool}.{k}.log",
    benchmark:
        "results/{cohort}/benchmarks/baseline/{tool}.{k}.tsv"
    conda:
        "../../envs/admixture.yaml"
    threads: 4
    resources:
        mem_mb=8000,
    params:
        outdir=subpath(output.q, parent=True),
        seed=SEED,
    shell:
        "neuradmix baseline {input.bed} --k {wildcards.k} --tool {wildcards.tool}"
        " --out {params.outdir} --name train --seed {params.seed} --threads {threads}"
        " > {log} 2>&1"


rule project:
    input:
        unpack(partition_files("val")),
        p="results/{cohort}/baseline/{tool}/train.{k}.P",
    output:
        q="results/{cohort}/baseline/{tool}/val.{k}.Q",
    log:
        "results/{cohort}/logs/project/{tool}.{k}.log",
    benchmark:
        "results/{cohort}/benchmarks/project/{tool}.{k}.tsv"
    conda:
        "../../envs/admixture.yaml"
    threads: 4
    resources:
        mem_mb=4000,
    params:
        outdir=subpath(output.q, parent=True),
        seed=SEED,
    shell:
        "neuradmix project {input.bed} --p {input.p} --out {params.outdir} --name val"
        " --seed {params.seed} --threads {threads} > {log} 2>&1"


rule cv:
    input:
        unpack(partition_files("train")),
    output:
        "results/{cohort}/cv/{tool}.cv.txt",
    log:
        "results/{cohort}/logs/cv/{tool}.log",
    benchmark:
        "results/{cohort}/benchmarks/cv/{tool}.tsv"
    conda:
        "../../envs/admixture.yaml"
    threads: 4
    resources:
        mem_mb=8000,
    params:
        min_k=config["cv"]["min_k"],
        max_k=config["cv"]["max_k"],
        seed=SEED,
    shell:
        "neuradmix cv {input.bed} --min-k {params.min_k} --max-k {params.max_k}"
        " --tool {wildcards.tool} --seed {params.seed} --threads {threads}"
        " > {output} 2> {log}"


rule cv_table:
    input:
        "results/{cohort}/cv/{tool}.cv.txt",
    output:
        "results/{cohort}/cv/{tool}.cv.tsv",
    log:
        "results/{cohort}/logs/cv_table/{tool}.log",
    benchmark:
        "results/{cohort}/benchmarks/cv_table/{tool}.tsv"
    conda:
        "../../envs/neuradmix.yaml"
    shell:
        "neuradmix cv-table {input} --out {output} 2> {log}"
