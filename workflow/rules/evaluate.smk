# Scores per language and their target-language average: seqeval entity F1 (tagging), accuracy and
# macro-F1 (cls), SQuAD / MLQA F1 and EM (qa).


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
        **wfc.evaluate_params(config),
    log:
        f"{LOGS}/evaluate/{{method}}/{{seed}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{method}}/{{seed}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
