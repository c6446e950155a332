# The base encoder: built here (model.name_or_path: tiny) or any Hugging Face name or path.


rule tiny_model:
    input:
        texts=wfc.tiny_model_texts(config),
    output:
        model=directory(f"{R}/model/tiny"),
    params:
        step="models.tiny:main",
        **wfc.tiny_model_params(config),
    log:
        f"{LOGS}/model/tiny.log",
    benchmark:
        f"{BENCH}/model/tiny.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
