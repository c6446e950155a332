"""The thin bridge between a Snakemake rule and a step's ``main(ctx)``.

Every rule runs ``workflow/scripts/step.py``, which calls ``run_step(snakemake)``. The rule's
``params.step`` names the entry point (``"module:function"`` inside ``pipeline_steps``); the function
receives a ``StepContext`` of plain dicts, so steps never touch Snakemake objects and can be called
from tests or a notebook the same way. Output (logging, tqdm progress, tracebacks) goes to the
rule's log file; the one-line reason of a failure is also printed to the console.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pipeline_steps.io import input_paths

log = logging.getLogger("xlt")


@dataclass
class StepContext:
    """What a step gets from its rule: named inputs/outputs (paths), params, wildcards, threads, the
    job's resources (e.g. ``gpu``: a finetune job with more than one trains data-parallel)."""

    input: dict[str, Any]
    output: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    wildcards: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    log: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)

    def input_paths(self, name: str) -> list[str]:
        """Input ``name`` as a list of paths: a rule's one-file list input arrives as a plain string."""
        return input_paths(self.input[name])


def _named(namedlist: Any) -> dict[str, Any]:
    items = dict(namedlist.items())
    if not items and len(namedlist):
        items = {str(i): v for i, v in enumerate(namedlist)}
    return {k: v if isinstance(v, str) or not hasattr(v, "__iter__") else list(v) for k, v in items.items()}


#: A rule param holding a dict of params that depend on the wildcards (one workflow_config function
#: computes them all); it is merged into the step's params.
MERGED_PARAM = "from_config"


def step_params(rule_params: dict[str, Any]) -> dict[str, Any]:
    """The params a step gets from its rule's: without ``step``, with ``from_config`` merged in."""
    params = {k: v for k, v in rule_params.items() if k not in ("step", MERGED_PARAM)}
    merged = rule_params.get(MERGED_PARAM) or {}
    clash = sorted(set(merged) & set(params))
    if clash:
        raise ValueError(f"params {clash} are given both directly and in {MERGED_PARAM}")
    return {**params, **merged}


def context_from_snakemake(smk: Any) -> StepContext:
    params = step_params(dict(smk.params.items()))
    return StepContext(
        input=_named(smk.input),
        output=_named(smk.output),
        params=params,
        wildcards=dict(smk.wildcards.items()),
        threads=int(smk.threads),
        log=str(smk.log[0]) if len(smk.log) else None,
        resources={k: v for k, v in smk.resources.items() if not k.startswith("_")},
    )


def resolve(step: str):
    module, _, func = step.partition(":")
    return getattr(importlib.import_module(f"pipeline_steps.{module}"), func or "main")


def configure_logging(stream, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


@contextlib.contextmanager
def logging_to(path: str | None, level: int = logging.INFO) -> Iterator[TextIO]:
    """Send logging, stderr and stdout (tqdm, tracebacks) to the file ``path`` (appended; its folder is
    made), or logging to stderr when ``path`` is None; yields the stream."""
    with contextlib.ExitStack() as stack:
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            stream = stack.enter_context(open(path, "a", encoding="utf-8", buffering=1))
            stack.enter_context(contextlib.redirect_stderr(stream))
            stack.enter_context(contextlib.redirect_stdout(stream))
        else:
            stream = sys.stderr
        configure_logging(stream, level)
        yield stream


def run(step: str, ctx: StepContext) -> None:
    """Run ``step`` with ``ctx``, logging to ``ctx.log`` (or stderr)."""
    func = resolve(step)
    console = sys.__stderr__
    with logging_to(ctx.log):
        log.info("step %s: wildcards=%s threads=%d", step, ctx.wildcards, ctx.threads)
        start = time.perf_counter()
        try:
            func(ctx)
        except Exception as exc:
            log.exception("step %s failed", step)
            print(f"xlt: {step} failed: {exc}", file=console)
            raise
        log.info("step %s done in %.1f s", step, time.perf_counter() - start)


def run_step(smk: Any) -> None:
    """Entry point used by ``workflow/scripts/step.py``."""
    run(smk.params.step, context_from_snakemake(smk))
