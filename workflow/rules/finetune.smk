# Fine-tuning (one rule for every method), with checkpoints and resume; prediction on each test set.


rule finetune:
    input:
        train=f"{R}/ingest/train.parquet",
        dev=f"{R}/ingest/dev.parquet",
        model=wfc.base_model_inputs(config),
        extra=lambda wc: wfc.method_inputs(config, wc.method),
        augmented=lambda wc: wfc.method_augment_inputs(config, wc.method, wc.seed),
        translations=lambda wc: wfc.method_mt_inputs(config, wc.method),
        teacher=lambda wc: wfc.method_teacher_inputs(config, wc.method, wc.seed),
        pseudo=lambda wc: wfc.method_pseudo_inputs(config, wc.method, wc.seed),
    output:
        model=directory(f"{R}/finetune/{{method}}/{{seed}}/model"),
        log=f"{R}/finetune/{{method}}/{{seed}}/train_log.parquet",
    params:
        step="finetune:main",
        method=lambda wc: wc.method,
        seed=lambda wc: int(wc.seed),
        method_params=lambda wc: wfc.method_params(config, wc.method),
        target_langs=lambda wc: wfc.method_extra_langs(config, wc.method),
        checkpoint_dir=lambda wc: wfc.checkpoint_dir(config, wc.method, int(wc.seed)),
        **wfc.finetune_params(config),
    resources:
        gpu=1,
    log:
        f"{LOGS}/finetune/{{method}}/{{seed}}.log",
    benchmark:
        f"{BENCH}/finetune/{{method}}/{{seed}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule predict:
    input:
        model=f"{R}/finetune/{{method}}/{{seed}}/model",
        examples=f"{R}/ingest/test.{{lang}}.parquet",
    output:
        predictions=f"{R}/predict/{{method}}/{{seed}}/{{lang}}.parquet",
    params:
        step="predict:main",
        method=lambda wc: wc.method,
        seed=lambda wc: int(wc.seed),
        **wfc.predict_params(config),
    log:
        f"{LOGS}/predict/{{method}}/{{seed}}/{{lang}}.log",
    benchmark:
        f"{BENCH}/predict/{{method}}/{{seed}}/{{lang}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
