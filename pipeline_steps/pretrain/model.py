"""The model of paper 000's continued pre-training: a masked-LM encoder plus the [QUE] pointer head.

``ClismModel`` holds any Hugging Face ``AutoModelForMaskedLM`` (the encoder and its LM head: MLM needs
the head; an encoder saved without one, like multilingual-e5, gets a freshly initialised head) and the
``QueHead`` (W_s, W_e of Eq. 1). ``save_clism_model`` writes a folder every fine-tuning method loads
with ``from_pretrained`` (the encoder weights; task heads start fresh), with the tokenizer that knows
[QUE] and the pointer head in ``que_head.safetensors`` for [QUE] fine-tuning (Sec. 3.4).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from pipeline_steps.io import atomic_dir
from pipeline_steps.losses.clism import QueHead

QUE_HEAD_FILE = "que_head.safetensors"
META_FILE = "xlt_pretrain.json"
#: attribute names of the LM head on Hugging Face masked-LM classes (RoBERTa/XLM-R, BERT, DistilBERT)
LM_HEAD_NAMES = ("lm_head", "cls", "vocab_projector")


class ClismModel(torch.nn.Module):
    """``mlm``: a masked-LM model; ``que_head``: the [QUE] span pointer (paper 000, Eq. 1-3)."""

    def __init__(self, mlm: torch.nn.Module, que_head: QueHead):
        super().__init__()
        self.mlm = mlm
        self.que_head = que_head
        self._lm_head = _lm_head(mlm)

    @property
    def config(self) -> Any:
        return self.mlm.config

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden states ``[B, L, d]`` (no LM head)."""
        return self.mlm.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits of hidden rows (the MLM head)."""
        return self._lm_head(hidden)


def _lm_head(mlm: torch.nn.Module) -> torch.nn.Module:
    for name in LM_HEAD_NAMES:
        head = getattr(mlm, name, None)
        if isinstance(head, torch.nn.Module):
            return head
    raise ValueError(
        f"{type(mlm).__name__} has no masked-LM head ({' / '.join(LM_HEAD_NAMES)}); pre-training needs "
        "an AutoModelForMaskedLM"
    )


def load_clism_model(name_or_path: str, vocab_size: int, seed: int) -> ClismModel:
    """The masked-LM model of ``name_or_path`` with its embeddings resized to ``vocab_size`` (the
    tokenizer with [QUE]) and a new pointer head, both initialised from ``seed``."""
    from transformers import AutoModelForMaskedLM

    torch.manual_seed(seed)
    mlm = AutoModelForMaskedLM.from_pretrained(name_or_path)
    if mlm.get_input_embeddings().num_embeddings != vocab_size:
        mlm.resize_token_embeddings(vocab_size)
    return ClismModel(mlm, QueHead(mlm.config.hidden_size))


def save_clism_model(model: ClismModel, tokenizer, out: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Encoder + LM head (``save_pretrained``), tokenizer, pointer head and ``xlt_pretrain.json``,
    written to a temporary folder and renamed to ``out``."""
    from safetensors.torch import save_file

    model.to("cpu")
    with atomic_dir(out) as tmp:
        model.mlm.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        state = {k: v.contiguous() for k, v in model.que_head.state_dict().items()}
        save_file(state, str(tmp / QUE_HEAD_FILE))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_que_head(model_dir: str | os.PathLike, hidden_size: int) -> QueHead | None:
    """The pre-trained pointer head of a folder written by ``save_clism_model`` (None elsewhere)."""
    from safetensors.torch import load_file

    path = Path(model_dir) / QUE_HEAD_FILE
    if not path.is_file():
        return None
    head = QueHead(hidden_size)
    head.load_state_dict(load_file(str(path)))
    return head
