# Label projection (span-to-span or word-to-word) and its evaluation against gold target labels.

GOLD_LANGS = list(config["data"]["gold_parallel"])


rule project:
    input:
        pairs=f"{R}/pairs/{{corpus}}.{{lang}}.parquet",
        alignments=f"{R}/align/{{corpus}}.{{lang}}.parquet",
        spans=lambda wc: wfc.source_spans(config, wc.corpus, wc.lang),
    output:
        projected=f"{R}/project/{{corpus}}.{{lang}}.{{mapping}}.parquet",
    params:
        step="project:main",
        mapping=lambda wc: wc.mapping,
        scheme=config["scheme"],
        lang=lambda wc: wc.lang,
    log:
        f"{LOGS}/project/{{corpus}}.{{lang}}.{{mapping}}.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule projection_eval:
    input:
        projected=[wfc.projected_path(config, "gold", lang) for lang in GOLD_LANGS],
        gold=expand(f"{R}/ingest/gold.{{lang}}.tgt.parquet", lang=GOLD_LANGS),
    output:
        scores=f"{R}/projection/scores.parquet",
        summary=f"{R}/projection/summary.json",
    params:
        step="projection_eval:main",
        langs=GOLD_LANGS,
        backend=config["align"]["backend"],
        mapping=wfc.default_mapping(config),
        scheme=config["scheme"],
    log:
        f"{LOGS}/projection_eval.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
