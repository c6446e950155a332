# The base encoder: built here (model.name_or_path: tiny) or any Hugging Face name or path.


rule tiny_model:
    input:
        texts=wfc.tiny_model_texts(config),
    output:
        model=directory(f"{R}/model/tiny"),
    params:
        step="models.tiny:main",
        seed=config["seeds"][0],
        **config["model"].get("tiny", {}),
    log:
        f"{LOGS}/model/tiny.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
