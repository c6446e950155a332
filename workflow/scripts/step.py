"""Runs the step a rule names in ``params.step`` (see pipeline_steps/runner.py)."""

from pipeline_steps.runner import run_step

if __name__ == "__main__":  # not when a data-parallel finetune's processes re-import this file
    run_step(snakemake)  # noqa: F821 -- injected by Snakemake's script directive
