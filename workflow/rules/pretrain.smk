# Continued pre-training of paper 000: CLISM examples from sentence pairs (spaCy spans of the English
# side, aligned to the target side, each replaced by one [QUE]), then CLISM + CACR + MLM (Eq. 9). With
# model.pretrain every method starts from pretrain/model.


rule clism_examples:
    input:
        pairs=f"{R}/pairs/{{corpus}}.{{lang}}.parquet",
        alignments=f"{R}/align/{{corpus}}.{{lang}}.parquet",
        spans=lambda wc: wfc.source_spans(config, wc.corpus, wc.lang),
        model=wfc.tiny_model_inputs(config),
    output:
        examples=f"{R}/clism/{{corpus}}.{{lang}}.parquet",
    wildcard_constraints:
        corpus="par|translated",
    params:
        step="pretrain.clism_examples:main",
        **wfc.clism_params(config),
    log:
        f"{LOGS}/clism_examples/{{corpus}}.{{lang}}.log",
    benchmark:
        f"{BENCH}/clism_examples/{{corpus}}.{{lang}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule pretrain:
    input:
        examples=wfc.clism_inputs(config),
        model=wfc.tiny_model_inputs(config),
    output:
        model=directory(f"{R}/pretrain/model"),
        log=f"{R}/pretrain/train_log.parquet",
    params:
        step="pretrain.step:main",
        **wfc.pretrain_params(config),
    resources:
        gpu=1,
    log:
        f"{LOGS}/pretrain.log",
    benchmark:
        f"{BENCH}/pretrain.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
