"""Checkpoints of a training run: atomic folders, retention, resume, and the RNG states they carry.

A checkpoint is a folder ``step-NNNNNNNN`` holding ``state.pt`` (model, optimiser, scheduler, the RNG
states of Python/NumPy/torch/CUDA, the loop's position, log and model-selection state, and the digest
of the run's fingerprint), ``best.pt`` (the best-dev-F1 weights so far, when evaluated) and
``meta.json`` (step, epoch, finished, fingerprint; for people). It is written to a ``.tmp-...`` folder
and renamed, so a kill while saving leaves only an ignored temporary folder; the newest
``keep_last_checkpoints`` are kept. On restart the newest readable checkpoint whose digest matches is
restored (a damaged one falls back to the previous); checkpoints written with other settings are
removed and the run starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

CKPT_RE = re.compile(r"^step-(\d{8})$")
TMP_PREFIX = ".tmp-"


def rng_state() -> dict[str, Any]:
    """The global RNG states (Python, NumPy, torch, CUDA) as tensors and plain values
    (loadable with ``torch.load(weights_only=True)``)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the global RNG states saved by ``rng_state``."""
    torch.set_rng_state(state["torch"])
    version, keys, gauss_next = state["python"]
    random.setstate((int(version), tuple(int(k) for k in keys), gauss_next))
    name, arr, npos, ngauss, ncached = state["numpy"]
    np.random.set_state((name, arr.numpy().astype(np.uint32), int(npos), int(ngauss), float(ncached)))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights on the CPU."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def list_checkpoints(checkpoint_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints (``step-NNNNNNNN`` folders; temporary folders are ignored), oldest first."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = CKPT_RE.match(p.name)
        if m and p.is_dir() and (p / "state.pt").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


class Checkpoints:
    """Atomic checkpoint folders under ``root``: written as ``.tmp-...`` then renamed ``step-N``; the
    newest ``keep`` are kept. ``fingerprint`` is what a resumed run must share with the saved one."""

    def __init__(self, root: str | os.PathLike, keep: int, fingerprint: dict[str, Any]):
        self.root = Path(root)
        self.keep = int(keep)
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        self.digest = hashlib.sha256(json.dumps(self.fingerprint, sort_keys=True).encode()).hexdigest()

    def clean_tmp(self) -> None:
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.name.startswith(TMP_PREFIX):
                    log.warning("removing incomplete checkpoint %s", p)
                    shutil.rmtree(p, ignore_errors=True)

    def save(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        state: dict[str, Any],
        best: dict[str, torch.Tensor] | None,
        *,
        finished: bool,
        rng: list[dict[str, Any]] | None = None,
    ) -> Path:
        """Write the checkpoint of ``state`` (the loop's position: ``step``, ``epoch``, ...); ``rng``: the
        RNG states of every process of a data-parallel run (default: this process's)."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"step-{int(state['step']):08d}"
        final = self.root / name
        tmp = self.root / f"{TMP_PREFIX}{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        payload = {
            "model": cpu_state_dict(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng if rng is not None else rng_state(),
            "state": state,
            "digest": self.digest,
        }
        torch.save(payload, tmp / "state.pt")
        if best is not None:
            torch.save(best, tmp / "best.pt")
        meta = {
            "step": state["step"],
            "epoch": state["epoch"],
            "finished": finished,
            "fingerprint": self.fingerprint,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if final.exists():  # re-saving a step (after falling back past a damaged checkpoint)
            shutil.rmtree(final)
        os.replace(tmp, final)
        for _, old in list_checkpoints(self.root)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load_newest(self) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None, Path] | None:
        """The newest readable checkpoint of this run; stale ones (other settings) are removed."""
        self.clean_tmp()
        for step, path in reversed(list_checkpoints(self.root)):
            try:
                payload = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
                best_file = path / "best.pt"
                best = (
                    torch.load(best_file, map_location="cpu", weights_only=True)
                    if best_file.exists()
                    else None
                )
            except Exception as exc:  # a damaged file: fall back to the previous checkpoint
                log.warning("cannot read checkpoint %s (%s); trying an older one", path, exc)
                continue
            if payload.get("digest") != self.digest:
                log.warning(
                    "checkpoint %s was written with other settings; starting afresh and removing it", path
                )
                for _, p in list_checkpoints(self.root):
                    shutil.rmtree(p, ignore_errors=True)
                return None
            log.info("found checkpoint at step %d: %s", step, path)
            return payload, best, path
        return None
