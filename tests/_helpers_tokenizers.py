"""A toy Unigram tokenizer (tokenizer.json) shared by the subword-sampling and augmentation tests."""

from __future__ import annotations

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from pipeline_steps.augment.subword_sampling import META

# A toy Unigram vocabulary over "abcd" (+ "xa"; "x" alone is no piece, so it is an unknown character).
TOY_VOCAB = [
    ("<unk>", 0.0),
    (META, -3.1),
    ("a", -2.0),
    ("b", -2.4),
    ("c", -2.2),
    ("d", -2.9),
    ("ab", -3.0),
    ("bc", -3.6),
    ("cd", -4.1),
    ("da", -3.7),
    ("abc", -4.4),
    ("xa", -3.3),
    (META + "a", -2.6),
    (META + "b", -3.3),
    (META + "c", -3.5),
    (META + "d", -3.8),
    (META + "ab", -3.9),
]


def unigram_tokenizer(vocab: list[tuple[str, float]], lowercase: bool = False) -> Tokenizer:
    tok = Tokenizer(models.Unigram(vocab, unk_id=0))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META)
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    return tok
