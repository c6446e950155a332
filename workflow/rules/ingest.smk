# Raw files -> sentences artifacts; entity spans; sentence-parallel pairs.


rule ingest:
    input:
        raw=lambda wc: wfc.dataset(config, wc.name)["path"],
    output:
        sentences=f"{R}/ingest/{{name}}.parquet",
    params:
        step="ingest:main",
        format=lambda wc: wfc.dataset(config, wc.name)["format"],
        lang=lambda wc: wfc.dataset(config, wc.name)["lang"],
        split=lambda wc: wfc.dataset(config, wc.name)["split"],
        scheme=config["scheme"],
        input_scheme=lambda wc: wfc.dataset(config, wc.name)["input_scheme"],
        tokenize=lambda wc: wfc.dataset(config, wc.name)["tokenize"],
        encoding=lambda wc: wfc.dataset(config, wc.name)["encoding"],
        limit=lambda wc: wfc.dataset(config, wc.name)["limit"],
        skip=lambda wc: wfc.dataset(config, wc.name)["skip"],
        sep=lambda wc: wfc.dataset(config, wc.name)["sep"],
    log:
        f"{LOGS}/ingest/{{name}}.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule spans:
    input:
        sentences=f"{R}/ingest/{{name}}.parquet",
    output:
        spans=f"{R}/spans/{{name}}.parquet",
    params:
        step="spans:main",
        source="auto",
        scheme=config["scheme"],
        spacy_model=config["spans"]["spacy_model"],
        max_words=config["spans"]["max_words"],
        batch_size=256,
        label_map=config["spans"].get("label_map"),
    log:
        f"{LOGS}/spans/{{name}}.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule pair_parallel:
    input:
        src=f"{R}/ingest/{{corpus}}.{{lang}}.src.parquet",
        tgt=f"{R}/ingest/{{corpus}}.{{lang}}.tgt.parquet",
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
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
