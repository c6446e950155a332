# Shared names for every rule file. Decisions over the config live in pipeline_steps/workflow_config.py.

R = wfc.results_dir(config)
LOGS = f"logs/{config['experiment']}"
STEP = "../scripts/step.py"


wildcard_constraints:
    name=wfc.DATASET_NAME,
    lang=r"[a-z]{2,3}",
    corpus=r"translated|gold|par",
    method=r"[a-z_]+(-[a-z]{2,3})?(@[a-z0-9]+)?",
    mapping=r"span2span|word2word",
    seed=r"\d+",
