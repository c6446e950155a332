"""Continued pre-training of paper 000 (Chen et al., NAACL 2022): CLISM examples, the [QUE] token,
the masked-LM encoder with its [QUE] pointer head.

- ``que.py``: the ``[QUE]`` special token and a tokenizer that knows it.
- ``clism_examples.py``: step ``clism_examples``, parallel pairs + entity spans + word alignments ->
  CLISM inputs ``X = [CLS] masked-source [SEP] target [SEP]`` with the answer of every ``[QUE]``.
- ``model.py``: the encoder + pointer head, saved for fine-tuning.
"""
