"""scripts/threshold_table.py: the share of the dev set each co-training view picks at t, and its accuracy."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
picks_table = runpy.run_path(str(ROOT / "scripts/threshold_table.py"))["picks_table"]


def test_share_and_accuracy_of_the_items_strictly_above_t():
    confidence = {"f_lm": np.array([0.95, 0.7, 0.7, 0.4]), "f_emb": np.array([0.2, 0.3, 0.91, 0.99])}
    correct = {"f_lm": np.array([True, False, True, True]), "f_emb": np.array([True, True, False, True])}
    table = picks_table(confidence, correct, [0.7, 0.9, 0.99])
    assert table["f_lm_share"].tolist() == [0.25, 0.25, 0.0]  # 0.7 is not above 0.7
    assert table["f_lm_accuracy"].iloc[0] == 1.0 and math.isnan(table["f_lm_accuracy"].iloc[2])
    assert table["f_emb_share"].tolist() == [0.5, 0.5, 0.0]
    assert table["f_emb_accuracy"].tolist()[:2] == [0.5, 0.5]
