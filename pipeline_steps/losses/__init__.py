"""Losses beyond the task objectives, one module each, named after the loss (issue 10 onwards).

| module | loss | paper |
|---|---|---|
| ``symmetric_kl.py`` | example consistency R1: KL(sg(P)||Q) + KL(sg(Q)||P) | xTune, Sec. 3.1.1, Eq. 1 |
"""
