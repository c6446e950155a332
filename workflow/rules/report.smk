# Results table (method x language, like paper 001 Table 1) and plots; `snakemake --report` picks them up.

from pipeline_steps.method_names import row_name

# Figure 2 of paper 001 (dev F1 vs step with and without warm-up), when both methods run.
CURVES = ["zero_shot", "mtl_ws"] if {"zero_shot", "mtl_ws"} <= set(config["methods"]) else []


rule report:
    input:
        metrics=expand(f"{R}/eval/{{method}}/{{seed}}.parquet", method=wfc.dag_methods(config), seed=config["seeds"]),
        projection=[f"{R}/projection/summary.json"] if config["data"]["gold_parallel"] else [],
        train_logs=[f"{R}/finetune/{m}/{config['seeds'][0]}/train_log.parquet" for m in CURVES],
        models=[f"{R}/finetune/{m}/{config['seeds'][0]}/model" for m in CURVES],
    output:
        table=report(f"{R}/report/table.md", category="Results", caption="../report/table.rst"),
        csv=f"{R}/report/table.csv",
        plot=report(f"{R}/report/f1.png", category="Results", caption="../report/f1.rst"),
        convergence=(
            [report(f"{R}/report/convergence.png", category="Results", caption="../report/convergence.rst")]
            if CURVES
            else []
        ),
    params:
        step="report:main",
        experiment=config["experiment"],
        source_lang=config["source_lang"],
        target_langs=config["target_langs"],
        methods=list(dict.fromkeys(row_name(m) for m in config["methods"])),
        mapping=wfc.default_mapping(config),
        curve_methods=CURVES,
    log:
        f"{LOGS}/report.log",
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
