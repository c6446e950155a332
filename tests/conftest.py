"""Shared test set-up: offline Hugging Face, one torch thread, paths to the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: the real data sets are not part of the repository."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is absent (see README 'Real data')")
    return SHARED_DATA


WORKFLOW_FILES = ("Snakefile", "workflow", "config", "resources", "profiles", "envs")


def copy_workflow(dest: Path) -> Path:
    """A copy of the workflow (Snakefile, rules, configs, demo data, profiles) in ``dest``, to run
    Snakemake in without touching the repository's results/ and logs/."""
    import shutil

    for name in WORKFLOW_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest


def demo_generator(folder: str):
    """The ``generate.py`` module of ``resources/demo/{folder}`` (the demo data's single source)."""
    import importlib.util

    path = ROOT / "resources" / "demo" / folder / "generate.py"
    spec = importlib.util.spec_from_file_location(f"demo_{folder}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
