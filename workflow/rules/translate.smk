# Translation fetch: the source training set into each target language (cached by text hash).


rule translate:
    input:
        sentences=f"{R}/ingest/train.parquet",
        file=lambda wc: (
            [wfc.translate_options(config, wc.lang)["path"]]
            if config["translate"]["provider"] == "file"
            else []
        ),
    output:
        pairs=f"{R}/pairs/translated.{{lang}}.parquet",
    params:
        step="translate:main",
        provider=config["translate"]["provider"],
        src_lang=config["source_lang"],
        tgt_lang=lambda wc: wc.lang,
        cache_dir=config["translate"]["cache_dir"],
        options=lambda wc: wfc.translate_options(config, wc.lang),
    log:
        f"{LOGS}/translate/{{lang}}.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
