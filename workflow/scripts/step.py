"""Runs the step a rule names in ``params.step`` (see pipeline_steps/runner.py)."""

from pipeline_steps.runner import run_step

run_step(snakemake)  # noqa: F821 -- injected by Snakemake's script directive
