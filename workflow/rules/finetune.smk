# Fine-tuning (one rule for every method), with checkpoints and resume; prediction on each test set.


rule finetune:
    input:
        train=f"{R}/ingest/train.parquet",
        dev=f"{R}/ingest/dev.parquet",
        model=[f"{R}/model/tiny"] if wfc.uses_tiny_model(config) else [],
        extra=lambda wc: wfc.method_inputs(config, wc.method),
    output:
        model=directory(f"{R}/finetune/{{method}}/{{seed}}/model"),
        log=f"{R}/finetune/{{method}}/{{seed}}/train_log.parquet",
    params:
        step="finetune:main",
        method=lambda wc: wc.method,
        seed=lambda wc: int(wc.seed),
        model_name_or_path=config["model"]["name_or_path"],
        scheme=config["scheme"],
        labels=config["labels"],
        task=config["task"],
        target_langs=wfc.translate_langs(config),
        method_params=lambda wc: wfc.method_params(config, wc.method),
        checkpoint_dir=lambda wc: (
            f"{R}/finetune/{wc.method}/{wc.seed}/checkpoints/"
            + wfc.finetune_fingerprint(config, wc.method, int(wc.seed))
        ),
        **config["finetune"],
    resources:
        gpu=1,
    log:
        f"{LOGS}/finetune/{{method}}/{{seed}}.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule predict:
    input:
        model=f"{R}/finetune/{{method}}/{{seed}}/model",
        sentences=f"{R}/ingest/test.{{lang}}.parquet",
    output:
        predictions=f"{R}/predict/{{method}}/{{seed}}/{{lang}}.parquet",
    params:
        step="predict:main",
        method=lambda wc: wc.method,
        seed=lambda wc: int(wc.seed),
        batch_size=32,
        max_length=config["finetune"]["max_length"],
        scheme=config["scheme"],
    log:
        f"{LOGS}/predict/{{method}}/{{seed}}/{{lang}}.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
