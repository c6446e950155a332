# Augmented views of the source training set (xTune, paper 003 Sec. 3.2): code-switch substitution and
# subword sampling, one artifact per (kind, seed).


rule augment:
    input:
        sentences=f"{R}/ingest/train.parquet",
        files=lambda wc: wfc.augment_inputs(config, wc.kind),
    output:
        augmented=f"{R}/augment/{{kind}}.{{seed}}.parquet",
    params:
        step="augment.views:main",
        kind=lambda wc: wc.kind,
        seed=lambda wc: int(wc.seed),
        from_config=lambda wc: wfc.augment_params(config, wc.kind),
    log:
        f"{LOGS}/augment/{{kind}}.{{seed}}.log",
    benchmark:
        f"{BENCH}/augment/{{kind}}.{{seed}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
