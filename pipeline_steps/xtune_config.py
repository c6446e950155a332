"""xTune settings as the DAG sees them (torch-free, for the Snakefile): which keys each xTune method
reads, and the paper's per-task augmentations (paper 003 Appendix D, Table 7, cross-lingual transfer).

``method_params.xtune`` is one config block for the whole family; ``settings`` hands a method only the
keys it trains with, resolved, so that a stage-2 key (``lambda2``) changes the params -- and reruns --
only the stage-2 methods, never the stage-1 teacher ``xtune_r1``.
"""

from __future__ import annotations

from typing import Any

from pipeline_steps.errors import ConfigError
from pipeline_steps.method_names import XTUNE, method_augmentation, split_method

STAGE1_KEYS = ("lambda1", "stop_gradient", "reduction", "stage1_augment")
STAGE2_KEYS = ("lambda1", "lambda2", "hard_r2", "stop_gradient", "reduction", "stage2_augment")
# Table 7 (cross-lingual transfer): (stage-1 A*, stage-2 A = A'); NER/POS subword, XNLI/PAWS-X
# code-switch, XQuAD/MLQA code-switch then subword
TABLE7: dict[str, tuple[str, str]] = {
    "ner": ("subword", "subword"),
    "absa": ("subword", "subword"),
    "cls": ("code_switch", "code_switch"),
    "qa": ("code_switch", "subword"),
}
HARD_R2_TASKS = frozenset({"ner", "absa"})  # official: hard labels for NER (panx), soft KL for the rest


def stage_keys(method: str) -> tuple[str, ...]:
    """The ``method_params.xtune`` keys ``method`` trains with: stage 1's for ``xtune_r1`` and
    ``xtune_da``, stage 2's for ``xtune`` and ``xtune_r2``."""
    base = split_method(method)[0]
    if base not in XTUNE:
        raise ConfigError(f"{method!r} is not an xTune method ({sorted(XTUNE)})")
    return STAGE1_KEYS if base in ("xtune_r1", "xtune_da") else STAGE2_KEYS


def settings(block: dict[str, Any], task: str, method: str) -> dict[str, Any]:
    """The resolved settings of ``method`` from the config block ``method_params.xtune``: its stage's
    keys, ``stage{1,2}_augment`` from the method's ``@augmentation`` or the block or Table 7, ``hard_r2``
    from the block or the task."""
    if task not in TABLE7:
        raise ConfigError(f"xTune: no Table 7 defaults for task {task!r}")
    named = method_augmentation(method)
    resolved = dict(block)
    for stage, key in enumerate(("stage1_augment", "stage2_augment")):
        resolved[key] = named or resolved.get(key) or TABLE7[task][stage]
    if resolved.get("hard_r2") is None:
        resolved["hard_r2"] = task in HARD_R2_TASKS
    missing = [k for k in stage_keys(method) if k not in resolved]
    if missing:
        raise ConfigError(f"method_params.xtune is missing {missing} (config/schema.yaml has the defaults)")
    return {k: resolved[k] for k in stage_keys(method)}


def augmentations(block: dict[str, Any], task: str, method: str) -> list[str]:
    """The augmentation kinds ``method`` trains on (one per stage it runs)."""
    s = settings(block, task, method)
    return sorted({s[k] for k in ("stage1_augment", "stage2_augment") if k in s})
