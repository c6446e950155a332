# Word alignment (eflomal or fast_align) with symmetrisation; fast_align built from source if needed.

FAST_ALIGN, BUILD_FAST_ALIGN = wfc.fast_align_binary(config)


rule build_fast_align:
    output:
        binary=FAST_ALIGN,
    params:
        step="align.build_fast_align:main",
        source=config["align"]["fast_align"]["source"],
        commit=config["align"]["fast_align"]["commit"],
    log:
        f"logs/tools/build_fast_align.log",
    conda:
        "../../envs/align.yaml"
    script:
        STEP


rule align:
    input:
        pairs=f"{R}/pairs/{{corpus}}.{{lang}}.parquet",
        extra=lambda wc: wfc.extra_align_pairs(config, wc.corpus, wc.lang),
        binary=[FAST_ALIGN] if config["align"]["backend"] == "fast_align" and BUILD_FAST_ALIGN else [],
    output:
        alignments=f"{R}/align/{{corpus}}.{{lang}}.parquet",
    params:
        step="align:main",
        backend=config["align"]["backend"],
        symmetrize=config["align"]["symmetrize"],
        fast_align_bin=FAST_ALIGN if config["align"]["backend"] == "fast_align" else None,
        seed=config["seeds"][0],
        options=config["align"].get(config["align"]["backend"]) if config["align"]["backend"] == "embedding" else None,
    log:
        f"{LOGS}/align/{{corpus}}.{{lang}}.log",
    conda:
        "../../envs/align.yaml"
    script:
        STEP
