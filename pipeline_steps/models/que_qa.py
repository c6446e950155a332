"""Extractive QA with the [QUE] answer pointer of paper 000 (Chen et al., NAACL 2022, Sec. 3.4).

"[QUE] fine-tuning": the QA input becomes ``X̄ = [CLS] Q [QUE] [SEP] P [SEP]`` (Eq. 10; ``QATask`` with
``que=True`` appends `` [QUE]`` to every question before ``encode_qa``) and the answer span is pointed at
from the representation ``x_q`` of that ``[QUE]`` exactly as in the CLISM pre-training ("The following
process is the same as Section 3.1"): ``s_q = W_s x_q``, ``e_q = W_e x_q`` (Eq. 1) and the start / end
logit of position k is ``x_k^T s_q`` / ``x_k^T e_q`` (Eq. 2-3 before the softmax), computed by the
pre-training's ``losses.clism.QueHead``. ``W_s`` and ``W_e`` start from the pre-trained head
(``que_head.safetensors`` of a ``pretrain.model.save_clism_model`` folder) when there is one, else fresh
(seeded). The Figure 4b ablation ("w/o [QUE]") is the standard head of ``question_answering.py``.

Position k ranges over every non-padding position of the window, as in pre-training (``[CLS]``, the
question, the ``[QUE]`` itself, the separators and the context); padding gets the dtype's minimum logit.
Training labels and decoding are those of the standard head: ``qa_loss`` takes the cross-entropy over
these logits (a window without the whole answer points at ``[CLS]``, position 0), and
``decode_answers`` only considers context positions, so the ``[QUE]`` and question positions are never
answers.

``QuePointerQA.forward`` returns a ``QuestionAnsweringModelOutput`` (start_logits, end_logits), the
interface of ``AutoModelForQuestionAnswering`` that ``predict_qa``, ``qa_loss``, ``SupervisedQA`` and the
xTune QA recipes rely on. ``save_pretrained`` writes the encoder, the pointer head and the marker
``xlt_que.json``: a folder with that marker is a [QUE] QA model (``is_que_model_dir``).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from transformers.modeling_outputs import QuestionAnsweringModelOutput

from pipeline_steps.losses.clism import QueHead
from pipeline_steps.models.question_answering import load_tokenizer
from pipeline_steps.pretrain.model import QUE_HEAD_FILE, load_que_head
from pipeline_steps.pretrain.que import QUE_TOKEN, add_que_token, que_embeddings

log = logging.getLogger(__name__)

QUE_MARKER_FILE = "xlt_que.json"


def is_que_model_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder written by ``QuePointerQA.save_pretrained`` (has ``xlt_que.json``)."""
    return (Path(path) / QUE_MARKER_FILE).is_file()


def _load_encoder(path: str):
    """``AutoModel.from_pretrained(path)`` (the base encoder, also from a masked-LM folder), without the
    pooler the pointer never uses where the model class has that option (BERT, RoBERTa, XLM-R)."""
    from transformers import AutoConfig, AutoModel
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    kwargs: dict[str, Any] = {}
    try:
        model_class = MODEL_MAPPING[type(AutoConfig.from_pretrained(path))]
    except KeyError:
        model_class = None
    if model_class is not None and "add_pooling_layer" in inspect.signature(model_class.__init__).parameters:
        kwargs["add_pooling_layer"] = False
    return AutoModel.from_pretrained(path, **kwargs)


class QuePointerQA(torch.nn.Module):
    """An encoder whose span pointer is the [QUE] head (see the module docstring).

    ``encoder``: a Hugging Face base model (``AutoModel``); ``que_head``: ``W_s``, ``W_e`` of Eq. 1;
    ``que_id``: the id of ``[QUE]`` in the tokenizer the inputs were made with.
    """

    def __init__(self, encoder: torch.nn.Module, que_head: QueHead, que_id: int):
        super().__init__()
        hidden = encoder.config.hidden_size
        if que_head.start.in_features != hidden:
            raise ValueError(
                f"the [QUE] head is for hidden size {que_head.start.in_features}, the encoder has {hidden}"
            )
        self.encoder = encoder
        self.que_head = que_head
        self.que_id = int(que_id)

    @property
    def config(self) -> Any:
        """The encoder's config (``hidden_size`` etc.)."""
        return self.encoder.config

    def get_input_embeddings(self) -> torch.nn.Module:
        """The encoder's word embeddings (``freeze_word_embeddings``, xTune's noise)."""
        return self.encoder.get_input_embeddings()

    def que_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The position of the one ``[QUE]`` of every row of ``input_ids`` ``[B, L]`` as ``[B]``;
        ValueError naming the first row with none or several."""
        is_que = input_ids == self.que_id
        counts = is_que.sum(dim=1)
        bad = torch.nonzero(counts != 1).flatten()
        if bad.numel():
            row = int(bad[0])
            raise ValueError(
                f"[QUE] pointer QA needs exactly one {QUE_TOKEN} (id {self.que_id}) per row, found "
                f"{int(counts[row])} in row {row} of the batch ({bad.numel()} bad rows); the questions must "
                f"end with {QUE_TOKEN} (QATask with que=True appends it)"
            )
        return is_que.to(torch.int64).argmax(dim=1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> QuestionAnsweringModelOutput:
        """Start and end logits ``[B, L]`` (Eq. 1-3 before the softmax) over every non-padding position;
        padding positions get the dtype's minimum."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [B, L], got shape {tuple(input_ids.shape)}")
        que_pos = self.que_positions(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs)[0]  # last hidden states [B, L, d]
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        start, end = self.que_head(hidden, rows, que_pos.to(input_ids.device), attention_mask)
        return QuestionAnsweringModelOutput(start_logits=start, end_logits=end)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, seed: int | None = None) -> QuePointerQA:
        """The encoder of ``path`` (a plain encoder, a ``save_clism_model`` folder or a fine-tuned
        ``QuePointerQA``) with the [QUE] pointer: the tokenizer of ``path`` gets ``[QUE]`` if it lacks it
        (the word embeddings then grow to the tokenizer's size, new rows seeded by ``seed``); the head is
        read from ``que_head.safetensors`` when the folder has one, else freshly initialised after
        ``torch.manual_seed(seed)``. In eval mode, like Hugging Face's ``from_pretrained``."""
        path = str(path)
        tokenizer = load_tokenizer(path)
        que_id = add_que_token(tokenizer)
        if is_que_model_dir(path):
            saved = json.loads((Path(path) / QUE_MARKER_FILE).read_text(encoding="utf-8")).get("que_id")
            if saved != que_id:
                raise ValueError(
                    f"{path}: {QUE_MARKER_FILE} says {QUE_TOKEN} has id {saved}, its tokenizer says {que_id}"
                )
        if seed is not None:
            torch.manual_seed(seed)
        encoder = _load_encoder(path)
        n_embeddings = encoder.get_input_embeddings().num_embeddings
        que_embeddings(encoder, tokenizer)
        log.info(
            "%s: %s has id %d; word embeddings %d -> %d",
            path,
            QUE_TOKEN,
            que_id,
            n_embeddings,
            encoder.get_input_embeddings().num_embeddings,
        )
        hidden = encoder.config.hidden_size
        head = load_que_head(path, hidden)
        if head is not None:
            log.info("[QUE] pointer: W_s, W_e loaded from %s", Path(path) / QUE_HEAD_FILE)
        else:
            if seed is not None:
                torch.manual_seed(seed)
            head = QueHead(hidden)
            log.info("[QUE] pointer: no %s in %s, W_s and W_e fresh (seed %s)", QUE_HEAD_FILE, path, seed)
        return cls(encoder, head, que_id).eval()

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """The encoder (``save_pretrained``), the pointer head (``que_head.safetensors``) and the marker
        ``xlt_que.json`` into ``save_directory`` (the tokenizer is the caller's, as for HF models)."""
        from safetensors.torch import save_file

        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(out)
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.que_head.state_dict().items()}
        save_file(state, str(out / QUE_HEAD_FILE))
        marker = {"que_token": QUE_TOKEN, "que_id": self.que_id}
        text = json.dumps(marker, indent=2, sort_keys=True) + "\n"
        (out / QUE_MARKER_FILE).write_text(text, encoding="utf-8")
