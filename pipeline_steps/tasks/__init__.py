"""The tasks xlt trains and evaluates, as torch-free facts the DAG and the report need.

A task fixes what an example is (its ingest artifact), what a model predicts, and how it is scored:

| task | kind | examples artifact | headline metrics (first = model selection) |
|---|---|---|---|
| ``ner``, ``absa`` | tagging | ``sentences`` | entity F1 (seqeval) |
| ``cls`` | classification | ``cls_examples`` | accuracy, macro-F1 |
| ``qa`` | extractive QA | ``qa_examples`` | F1, exact match (SQuAD v1.1 / MLQA normalisation) |
| ``srl`` | srl | ``srl_instances`` | labelled argument F1, precision, recall |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline_steps.errors import ConfigError


@dataclass(frozen=True)
class TaskInfo:
    """What the workflow and the report need to know of a task."""

    name: str
    kind: str  # tagging | classification | qa | srl
    metrics: tuple[str, ...]  # the evaluate step's metric names per language; the first selects models
    metric_labels: tuple[str, ...]  # how the report names them

    @property
    def headline(self) -> str:
        return self.metrics[0]


TASKS: dict[str, TaskInfo] = {
    "ner": TaskInfo("ner", "tagging", ("f1",), ("entity F1",)),
    "absa": TaskInfo("absa", "tagging", ("f1",), ("entity F1",)),
    "cls": TaskInfo("cls", "classification", ("accuracy", "macro_f1"), ("accuracy", "macro-F1")),
    "qa": TaskInfo("qa", "qa", ("f1", "em"), ("F1", "EM")),
    "srl": TaskInfo("srl", "srl", ("f1", "precision", "recall"), ("argument F1", "precision", "recall")),
}


def make_task(name: str, params: dict[str, Any]):
    """The task object fine-tuning uses (``tasks/tagging.py``, ``classification.py``, ``qa.py``,
    ``srl.py``), built from the finetune step's params (``labels``, ``scheme``; ``qa`` settings for QA;
    ``srl`` settings for SRL; ``que_token`` --
    [QUE] fine-tuning, present and true only when on -- for QA and tagging)."""
    info = task_info(name)
    if info.kind == "tagging":
        from pipeline_steps.tasks.tagging import TaggingTask

        return TaggingTask(info, params["labels"], params["scheme"], que=bool(params.get("que_token", False)))
    if info.kind == "classification":
        from pipeline_steps.tasks.classification import ClassificationTask

        return ClassificationTask(info, params["labels"])
    if info.kind == "srl":
        from pipeline_steps.tasks.srl import SrlTask

        srl = params.get("srl") or {}
        return SrlTask(info, params["labels"], srl.get("markers"), bool(srl.get("upos", False)))
    from pipeline_steps.tasks.qa import QATask

    qa = params["qa"]
    return QATask(
        info,
        int(qa["doc_stride"]),
        int(qa["max_answer_length"]),
        int(qa["n_best"]),
        que=bool(params.get("que_token", False)),
    )


def task_info(name: str) -> TaskInfo:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"task: unknown task {name!r}; expected one of {sorted(TASKS)}") from None
