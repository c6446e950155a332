"""xlt: cross-lingual transfer of sequence labelling. See README.md and docs/architecture.md."""

from snakemake.utils import min_version

from pipeline_steps import workflow_config as wfc

min_version("9.0")


# The demo config, unless experiment config files are given with --configfile (which then replace it
# rather than merge into it, so a data set of the demo never leaks into another experiment).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# config/schema.yaml: types and every default (filled in here); then the cross-field checks. Every
# config error stops the run here, before any job.
wfc.prepare(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/augment.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/project.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/cotrain.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        wfc.all_targets(config),
    default_target: True
