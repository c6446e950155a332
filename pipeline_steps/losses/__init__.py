"""Losses beyond the task objectives, one module each, named after the loss (issue 10 onwards).

| module | loss | paper |
|---|---|---|
| ``symmetric_kl.py`` | example consistency R1: KL(sg(P)||Q) + KL(sg(Q)||P) | xTune, Sec. 3.1.1, Eq. 1 |
| ``span_consistency.py`` | R1 for span extraction: kept positions + one bucket | xTune, Sec. 3.1.1, 3.3.2 |
| ``model_consistency.py`` | model consistency R2: KL(frozen teacher||student) | xTune, Sec. 3.1.2, Eq. 2 |
"""
