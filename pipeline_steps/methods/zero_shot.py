"""ZERO-SHOT adaptation (paper 001 Sec. 3, Eq. 3): fine-tune on the source-language gold data only.

J(theta) = 1/|D_src| sum_{(x,y) in D_src} L(x, y), L the per-sentence cross-entropy of Eq. 3
(``methods.supervised``), one training phase, model selection on the source dev set; the model is
then applied to every target language as it is.
"""

from __future__ import annotations

from pipeline_steps.train import Trainer, TrainResult


class ZeroShot:
    """ZERO-SHOT (paper 001 Sec. 3, Eq. 3): one training phase on D_src, source-dev model selection."""

    name = "zero_shot"

    def __init__(self, data):
        self.data = data

    def fit(self, model, trainer: Trainer) -> TrainResult:
        if self.data.extra:
            self.data.log.info("zero_shot ignores %d extra (projected) data sets", len(self.data.extra))
        return trainer.run("main", model, self.data.recipe(self.data.train))
