"""xlt: cross-lingual transfer of sequence labelling. See README.md and docs/architecture.md."""

from snakemake.utils import min_version, validate

from pipeline_steps import workflow_config as wfc

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")
wfc.check(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/project.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        wfc.all_targets(config),
    default_target: True
