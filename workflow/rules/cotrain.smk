# Co-training and self-training (paper 002 Alg. 1): f_emb's sentence vectors, f_emb of each round, f_lm's
# predictions on the unlabelled pool, one selection round per rule (its state artifact). f_lm itself is
# fine-tuned by rule finetune (methods self_training / co_training, -iterK).


rule embed:
    input:
        examples=f"{R}/ingest/{{name}}.parquet",
        model=wfc.embedding_inputs(config),
    output:
        embeddings=f"{R}/cotrain/embeddings/{{name}}.parquet",
    params:
        step="cotrain.embed:main",
        **wfc.embed_params(config),
    log:
        f"{LOGS}/cotrain/embed/{{name}}.log",
    benchmark:
        f"{BENCH}/cotrain/embed/{{name}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule predict_pool:
    input:
        model=f"{R}/finetune/{{method}}/{{seed}}/model",
        examples=f"{R}/ingest/unlabelled.{{lang}}.parquet",
    output:
        predictions=f"{R}/cotrain/pool/{{method}}/{{seed}}/{{lang}}.parquet",
    params:
        step="cotrain.pool:main",
        method=lambda wc: wc.method,
        seed=lambda wc: int(wc.seed),
        **wfc.pool_predict_params(config),
    log:
        f"{LOGS}/cotrain/pool/{{method}}/{{seed}}/{{lang}}.log",
    benchmark:
        f"{BENCH}/cotrain/pool/{{method}}/{{seed}}/{{lang}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule cotrain_emb:
    input:
        unpack(lambda wc: wfc.cotrain_emb_inputs(config, wc.variant, wc.seed, wc.k)),
    output:
        predictions=f"{R}/cotrain/{{variant}}/{{seed}}/emb.iter{{k}}.parquet",
    wildcard_constraints:
        variant=wfc.EMB_OWNERS,
    params:
        step="cotrain.emb:main",
        variant=lambda wc: wc.variant,
        seed=lambda wc: int(wc.seed),
        iteration=lambda wc: int(wc.k),
        **wfc.cotrain_emb_params(config),
    log:
        f"{LOGS}/cotrain/{{variant}}/{{seed}}/emb.iter{{k}}.log",
    benchmark:
        f"{BENCH}/cotrain/{{variant}}/{{seed}}/emb.iter{{k}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule cotrain_select:
    input:
        unpack(lambda wc: wfc.cotrain_select_inputs(config, wc.variant, wc.seed, wc.k)),
    output:
        state=f"{R}/cotrain/{{variant}}/{{seed}}/state.iter{{k}}.parquet",
    params:
        step="cotrain.select:main",
        variant=lambda wc: wc.variant,
        seed=lambda wc: int(wc.seed),
        **wfc.cotrain_select_params(config),
    log:
        f"{LOGS}/cotrain/{{variant}}/{{seed}}/select.iter{{k}}.log",
    benchmark:
        f"{BENCH}/cotrain/{{variant}}/{{seed}}/select.iter{{k}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule report_cotraining:
    input:
        **wfc.cotrain_report_inputs(config),
    output:
        plot=report(f"{R}/report/cotraining.png", category="Results", caption="../report/cotraining.rst"),
        table=f"{R}/report/cotraining.md",
    params:
        step="report_cotraining:main",
        **wfc.cotrain_report_params(config),
    log:
        f"{LOGS}/report_cotraining.log",
    benchmark:
        f"{BENCH}/report_cotraining.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
