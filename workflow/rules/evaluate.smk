# seqeval entity F1 per language and the target-language average.


rule evaluate:
    input:
        predictions=lambda wc: expand(
            f"{R}/predict/{wc.method}/{wc.seed}/{{lang}}.parquet",
            lang=wfc.method_test_langs(config, wc.method),
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
    benchmark:
        f"{BENCH}/evaluate/{{method}}/{{seed}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
