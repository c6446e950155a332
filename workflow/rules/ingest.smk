# Raw files -> examples artifacts (sentences, qa_examples or cls_examples: the format decides); entity
# spans; sentence-parallel pairs; QA training contexts segmented into sentences, the answer tagged.


rule ingest:
    input:
        raw=lambda wc: wfc.dataset_path(config, wc.name),
        companions=lambda wc: wfc.dataset_companions(config, wc.name),
    output:
        examples=f"{R}/ingest/{{name}}.parquet",
    params:
        step="ingest:main",
        from_config=lambda wc: wfc.dataset(config, wc.name),
    log:
        f"{LOGS}/ingest/{{name}}.log",
    benchmark:
        f"{BENCH}/ingest/{{name}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule spans:
    input:
        sentences=lambda wc: wfc.sentences_path(config, wc.name),
    output:
        spans=f"{R}/spans/{{name}}.parquet",
    params:
        step="spans:main",
        from_config=lambda wc: wfc.spans_params(config, wc.name),
    log:
        f"{LOGS}/spans/{{name}}.log",
    benchmark:
        f"{BENCH}/spans/{{name}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule pair_parallel:
    input:
        unpack(wfc.wildcard_fn(wfc.parallel_sentences, config, "corpus", "lang")),
    output:
        pairs=f"{R}/pairs/{{corpus}}.{{lang}}.parquet",
    wildcard_constraints:
        corpus="gold|par",
    params:
        step="pairs:main",
        corpus=lambda wc: wc.corpus,
        src_lang=config["source_lang"],
        tgt_lang=lambda wc: wc.lang,
    log:
        f"{LOGS}/pairs/{{corpus}}.{{lang}}.log",
    benchmark:
        f"{BENCH}/pairs/{{corpus}}.{{lang}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule qa_segment:
    input:
        examples=f"{R}/ingest/train.parquet",
    output:
        sentences=f"{R}/qa/train.sentences.parquet",
    params:
        step="qa_projection:main_segment",
        src_lang=config["source_lang"],
        scheme=config["scheme"],
    log:
        f"{LOGS}/qa_segment.log",
    benchmark:
        f"{BENCH}/qa_segment.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
