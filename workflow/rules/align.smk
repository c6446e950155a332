# Word alignment (eflomal, fast_align or embedding) with symmetrisation; fast_align built if needed.


rule build_fast_align:
    output:
        binary=wfc.fast_align_binary(config)[0],
    params:
        step="align.build_fast_align:main",
        source=config["align"]["fast_align"]["source"],
        commit=config["align"]["fast_align"]["commit"],
    log:
        f"{LOGS}/tools/build_fast_align.log",
    benchmark:
        f"{BENCH}/tools/build_fast_align.tsv"
    conda:
        "../../envs/align.yaml"
    script:
        STEP


rule align:
    input:
        pairs=f"{R}/pairs/{{corpus}}.{{lang}}.parquet",
        extra=lambda wc: wfc.extra_align_pairs(config, wc.corpus, wc.lang),
        binary=wfc.fast_align_build_inputs(config),
    output:
        alignments=f"{R}/align/{{corpus}}.{{lang}}.parquet",
    params:
        step="align:main",
        **wfc.align_params(config),
    log:
        f"{LOGS}/align/{{corpus}}.{{lang}}.log",
    benchmark:
        f"{BENCH}/align/{{corpus}}.{{lang}}.tsv"
    conda:
        "../../envs/align.yaml"
    script:
        STEP
