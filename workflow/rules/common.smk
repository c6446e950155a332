# Shared names for every rule file. Every decision over the config is a named function in
# pipeline_steps/workflow_config.py (imported as wfc); rules hold paths and params only.

R = wfc.results_dir(config)
LOGS = wfc.logs_dir(config)
BENCH = wfc.benchmarks_dir(config)
STEP = "../scripts/step.py"


wildcard_constraints:
    **wfc.WILDCARDS,
