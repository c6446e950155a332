"""scripts/qa_chance.py: the random-span baseline quoted as QA chance in benchmarks/tasks.md."""

from __future__ import annotations

import random
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
random_spans = runpy.run_path(str(ROOT / "scripts/qa_chance.py"))["random_spans"]


def test_random_spans_are_short_pieces_of_the_context():
    context = "The river Vistula flows through Warsaw and Krakow to the Baltic Sea ."
    spans = random_spans(context, "en", random.Random(1), draws=200)
    assert len(spans) == 200 and all(s in context for s in spans)
    assert {len(s.split()) for s in spans} == {1, 2, 3, 4}
    zh = random_spans("维斯瓦河流经华沙", "zh", random.Random(1), draws=100)
    assert all(s in "维斯瓦河流经华沙" and 1 <= len(s) <= 8 for s in zh)
    again = random_spans(context, "en", random.Random(1), draws=200)
    assert again == spans  # seeded
