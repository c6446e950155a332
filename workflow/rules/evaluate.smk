# seqeval entity F1 per language and the target-language average.


rule evaluate:
    input:
        predictions=expand(
            f"{R}/predict/{{{{method}}}}/{{{{seed}}}}/{{lang}}.parquet", lang=wfc.test_langs(config)
        ),
    output:
        metrics=f"{R}/eval/{{method}}/{{seed}}.parquet",
    params:
        step="evaluate:main",
        method=lambda wc: wc.method,
        seed=lambda wc: int(wc.seed),
        scheme=config["scheme"],
        source_lang=config["source_lang"],
    log:
        f"{LOGS}/evaluate/{{method}}/{{seed}}.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
