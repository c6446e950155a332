# Results table (method x language, like paper 001 Table 1) and plot; `snakemake --report` picks them up.


rule report:
    input:
        metrics=expand(f"{R}/eval/{{method}}/{{seed}}.parquet", method=config["methods"], seed=config["seeds"]),
        projection=[f"{R}/projection/summary.json"] if config["data"]["gold_parallel"] else [],
    output:
        table=report(f"{R}/report/table.md", category="Results", caption="../report/table.rst"),
        csv=f"{R}/report/table.csv",
        plot=report(f"{R}/report/f1.png", category="Results", caption="../report/f1.rst"),
    params:
        step="report:main",
        experiment=config["experiment"],
        source_lang=config["source_lang"],
        target_langs=config["target_langs"],
        methods=config["methods"],
    log:
        f"{LOGS}/report.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
