# Results table (method x language, like paper 001 Table 1) and plots; `snakemake --report` picks them up.


rule report:
    input:
        **wfc.report_inputs(config),
    output:
        table=report(f"{R}/report/table.md", category="Results", caption="../report/table.rst"),
        csv=f"{R}/report/table.csv",
        plot=report(f"{R}/report/f1.png", category="Results", caption="../report/f1.rst"),
        convergence=[
            report(path, category="Results", caption="../report/convergence.rst")
            for path in wfc.convergence_plot(config)
        ],
        xtune_curves=[
            report(path, category="Results", caption="../report/xtune_curves.rst")
            for path in wfc.xtune_curves_plot(config)
        ],
        few_shot=[
            report(path, category="Results", caption="../report/few_shot.rst")
            for path in wfc.few_shot_plot(config)
        ],
        throughput=report(f"{R}/report/throughput.png", category="Speed", caption="../report/throughput.rst"),
    params:
        step="report:main",
        **wfc.report_params(config),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    conda:
        "../../envs/xlt.yaml"
    script:
        STEP
