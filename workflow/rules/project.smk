# Label projection (span-to-span or word-to-word; SRL's predicates and argument heads word to word) and
# its evaluation against gold target labels; QA training examples rebuilt in each target language around
# their projected answer.


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
    benchmark:
        f"{BENCH}/project/{{corpus}}.{{lang}}.{{mapping}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule projection_eval:
    input:
        **wfc.projection_eval_inputs(config),
    output:
        scores=f"{R}/projection/scores.parquet",
        summary=f"{R}/projection/summary.json",
    params:
        step=wfc.projection_eval_step(config),
        **wfc.projection_eval_params(config),
    log:
        f"{LOGS}/projection_eval.log",
    benchmark:
        f"{BENCH}/projection_eval.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule qa_assemble:
    input:
        examples=f"{R}/ingest/train.parquet",
        sentences=f"{R}/qa/train.sentences.parquet",
        projected=f"{R}/project/translated.{{lang}}.{{mapping}}.parquet",
    output:
        examples=f"{R}/qa/train.{{lang}}.{{mapping}}.parquet",
    params:
        step="qa_projection:main_assemble",
        tgt_lang=lambda wc: wc.lang,
        scheme=config["scheme"],
    log:
        f"{LOGS}/qa_assemble/{{lang}}.{{mapping}}.log",
    benchmark:
        f"{BENCH}/qa_assemble/{{lang}}.{{mapping}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP


rule srl_project:
    input:
        unpack(wfc.wildcard_fn(wfc.srl_project_inputs, config, "srl_set", "lang")),
    output:
        instances=f"{R}/srl/{{srl_set}}.{{lang}}.parquet",
    params:
        step="srl_projection:main",
        lang=lambda wc: wc.lang,
    log:
        f"{LOGS}/srl_project/{{srl_set}}.{{lang}}.log",
    benchmark:
        f"{BENCH}/srl_project/{{srl_set}}.{{lang}}.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
