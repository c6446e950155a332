"""Losses beyond the task objectives, one module each, named after the loss (issue 10 onwards).

| module | loss | paper |
|---|---|---|
| ``symmetric_kl.py`` | example consistency R1: KL(sg(P)||Q) + KL(sg(Q)||P) | xTune, Sec. 3.1.1, Eq. 1 |
| ``span_consistency.py`` | R1 for span extraction: kept positions + one bucket | xTune, Sec. 3.1.1, 3.3.2 |
| ``model_consistency.py`` | model consistency R2: KL(frozen teacher||student) | xTune, Sec. 3.1.2, Eq. 2 |
| ``clism.py`` | CLISM pointer: [QUE] -> start/end of its aligned target span | paper 000, Sec. 3.1, Eq. 1-4 |
| ``cacr.py`` | CACR: InfoNCE between masked-source, source and target views | paper 000, Sec. 3.2, Eq. 5-8 |
| ``mlm.py`` | BERT masked-LM with protected positions (CLISM answers) | paper 000, Sec. 3.3, 4.2, fn. 4 |
| ``label_alignment.py`` | LA: supervised contrastive, same label = positive | paper 002, Sec. 3.2, Eq. 2-3 |
| ``semantic_alignment.py`` | SA: translations positive, other labels not | paper 002, Sec. 3.2, Eq. 4-5 |
"""
