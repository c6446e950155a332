"""Model folders written by the steps get the umask's permissions (not mkdtemp's 0700)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pipeline_steps.finetune import META_FILE, save_model_dir


class _Saves:
    """Stands in for a model / tokenizer: ``save_pretrained`` writes one file."""

    def __init__(self, name: str):
        self.name = name

    def to(self, device: str) -> _Saves:
        return self

    def save_pretrained(self, folder: Path) -> None:
        (Path(folder) / self.name).write_text("x", encoding="utf-8")


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_save_model_dir_honours_the_umask(tmp_path, mask, file_mode, dir_mode):
    out = tmp_path / "finetune" / "model"
    old = os.umask(mask)
    try:
        save_model_dir(_Saves("model.safetensors"), _Saves("tokenizer.json"), out, {"seed": 1})
        save_model_dir(_Saves("model.safetensors"), _Saves("tokenizer.json"), out, {"seed": 2})  # replaces
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == dir_mode
    assert sorted(p.name for p in out.iterdir()) == sorted([META_FILE, "model.safetensors", "tokenizer.json"])
    assert all(stat.S_IMODE(p.stat().st_mode) == file_mode for p in out.iterdir())
    assert json.loads((out / META_FILE).read_text(encoding="utf-8")) == {"seed": 2}
    assert [p.name for p in out.parent.iterdir()] == ["model"]  # no temporary folder left
