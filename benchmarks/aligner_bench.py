"""Embedding-aligner speed against a SimAlign-style baseline and the full encoder, same process.

    python benchmarks/aligner_bench.py --model .cache/models/me5-small --n 300 --layer 8

Aligns the first ``--n`` Europarl en-es pairs (the projection benchmark's sentences) per round
(``--repeats``) three ways, each with the ``directional`` method at sub-word granularity:
- ``simalign``: the reference code's way (github.com/cisnlp/simalign, ``SentenceAligner.get_word_aligns``):
  one pair at a time, the two sentences as a padded batch of 2 through the whole encoder, the
  similarity matrix with scikit-learn's ``cosine_similarity``, the argmax of each row and column in
  numpy, sub-word links to word links in Python;
- ``full``: xlt's ``align_sentences`` (length-sorted batches of ``batch_size`` sentences, torch
  argmax) with the encoder as loaded;
- ``cut``: the same after ``keep_layers`` drops the layers above ``--layer`` (what xlt runs).
Prints the median times, the ratios against ``simalign`` and whether the links agree. Figures:
benchmarks/speed.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline_steps import formats  # noqa: E402
from pipeline_steps.align import embedding as emb  # noqa: E402

EUROPARL = ROOT.parent / "shared" / "data" / "ner-europarl-parallel"


def simalign_style(src, tgt, tokenizer, model, layer: int) -> tuple[list[set], list[set]]:
    """Forward (each target sub-word's best source sub-word) and reverse word links, one pair at a time
    as SimAlign computes them (see the module doc)."""
    import numpy as np
    from sklearn.metrics.pairwise import cosine_similarity

    forward, reverse = [], []
    for s_words, t_words in zip(src, tgt, strict=True):
        owners = []  # the word of each sub-word (SimAlign's sub2word_map)
        for words in (s_words, t_words):
            owners.append([i for i, w in enumerate(words) for _ in tokenizer.tokenize(w)])
        pair = [list(s_words), list(t_words)]
        batch = tokenizer(pair, is_split_into_words=True, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch, output_hidden_states=True).hidden_states[layer]
        vectors = [hidden[k, 1 : len(owners[k]) + 1].numpy() for k in (0, 1)]  # no <s>, </s>, padding
        sim = (cosine_similarity(vectors[0], vectors[1]) + 1.0) / 2.0
        fwd = np.zeros_like(sim)
        fwd[sim.argmax(axis=0), np.arange(sim.shape[1])] = 1  # every target sub-word: its best source one
        rev = np.zeros_like(sim)
        rev[np.arange(sim.shape[0]), sim.argmax(axis=1)] = 1
        for matrix, out in ((fwd, forward), (rev, reverse)):
            out.append({(owners[0][i], owners[1][j]) for i, j in zip(*np.nonzero(matrix), strict=True)})
    return forward, reverse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--layer", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    src = formats.read(str(EUROPARL / "en-europarl.test.conll02"), "tsv", "en", "test")["tokens"][: args.n]
    tgt = formats.read(str(EUROPARL / "es-europarl.test.conll02"), "tsv", "es", "test")["tokens"][: args.n]
    src, tgt = [list(s) for s in src], [list(t) for t in tgt]
    settings = emb.EmbeddingSettings.from_options(
        {"name_or_path": args.model, "layer": args.layer, "method": "directional"}
    )
    tokenizer, full = emb.load_encoder(args.model, torch.device("cpu"))
    cut = emb.load_encoder(args.model, torch.device("cpu"))[1]
    emb.keep_layers(cut, args.layer)
    ways = {
        "simalign": lambda: simalign_style(src, tgt, tokenizer, full, args.layer),
        "full": lambda: emb.align_sentences(src, tgt, tokenizer, full, settings),
        "cut": lambda: emb.align_sentences(src, tgt, tokenizer, cut, settings),
    }
    simalign_style(src[:4], tgt[:4], tokenizer, full, args.layer)  # warm-up: the first passes are slow
    emb.align_sentences(src[:4], tgt[:4], tokenizer, cut, settings)
    times: dict[str, list[float]] = {name: [] for name in ways}
    links = {}
    for _ in range(args.repeats):
        for name, run in ways.items():
            t0 = time.perf_counter()
            links[name] = run()
            times[name].append(time.perf_counter() - t0)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"{len(src)} pairs, layer {args.layer}, {args.threads} thread(s), {args.repeats} rounds")
    for name, t in median.items():
        print(f"{name:9s} {t:7.1f} s  {median['simalign'] / t:5.2f}x faster than simalign")
    for name in ("full", "cut"):
        same = sum(a == b for d in (0, 1) for a, b in zip(links[name][d], links["simalign"][d], strict=True))
        print(f"{name}: links of {same} / {2 * len(src)} directional alignments equal simalign's")
    print(f"cut == full: {links['cut'] == links['full']}")


if __name__ == "__main__":
    main()
