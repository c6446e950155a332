# Translation fetch: the source training set into each target language (cached by text hash): sentence
# pairs for tagging (then aligned and projected), translated examples with their labels for cls; SRL
# instances as one sentence each (the training set, and the gold pairs' two sides).


rule translate:
    input:
        sentences=wfc.sentences_path(config, "train"),
        file=lambda wc: wfc.translate_inputs(config, wc.lang),
    output:
        pairs=f"{R}/pairs/translated.{{lang}}.parquet",
    params:
        step="translate:main",
        from_config=lambda wc: wfc.translate_params(config, wc.lang),
    log:
        f"{LOGS}/translate/{{lang}}.log",
    benchmark:
        f"{BENCH}/translate/{{lang}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule translate_examples:
    input:
        examples=f"{R}/ingest/train.parquet",
        file=lambda wc: wfc.translate_inputs(config, wc.lang),
    output:
        examples=f"{R}/translate/train.{{lang}}.parquet",
    params:
        step="translate.examples:main",
        from_config=lambda wc: wfc.translate_params(config, wc.lang),
    log:
        f"{LOGS}/translate_examples/{{lang}}.log",
    benchmark:
        f"{BENCH}/translate_examples/{{lang}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule srl_sentences:
    input:
        instances=f"{R}/ingest/{{name}}.parquet",
    output:
        sentences=f"{R}/srl/{{name}}.sentences.parquet",
    params:
        step="srl_projection:main_sentences",
    log:
        f"{LOGS}/srl_sentences/{{name}}.log",
    benchmark:
        f"{BENCH}/srl_sentences/{{name}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
