"""Data augmentation for consistency training (xTune, paper 003 Sec. 3.2; issue 10).

| module | augmentation | paper 003 |
|---|---|---|
| ``code_switch.py`` | words replaced one-for-one by a MUSE dictionary translation | Sec. 3.2.3 |
| ``subword_sampling.py`` | each word's Unigram-LM segmentation sampled (Kudo 2018) | Sec. 3.2.1 |
"""
