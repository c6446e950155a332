"""Embedding-aligner speed: the full encoder against the one cut above the aligned layer, same process.

    python benchmarks/aligner_bench.py --model .cache/models/me5-small --n 400 --layer 8

Aligns the first ``--n`` Europarl en-es pairs (the projection benchmark's sentences) with
``align_sentences`` twice per round (``--repeats``), once with the encoder as loaded and once after
``keep_layers`` drops the layers above ``--layer``, and prints the median times, their ratio and
whether the links are identical. Figures: benchmarks/speed.md.
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
    settings = emb.EmbeddingSettings.from_options({"name_or_path": args.model, "layer": args.layer})
    tokenizer, full = emb.load_encoder(args.model, torch.device("cpu"))
    cut = emb.load_encoder(args.model, torch.device("cpu"))[1]
    emb.keep_layers(cut, args.layer)
    times: dict[str, list[float]] = {"full": [], "cut": []}
    links = {}
    for _ in range(args.repeats):
        for name, model in (("full", full), ("cut", cut)):
            t0 = time.perf_counter()
            links[name] = emb.align_sentences(src, tgt, tokenizer, model, settings)
            times[name].append(time.perf_counter() - t0)
    a, b = statistics.median(times["full"]), statistics.median(times["cut"])
    print(f"{len(src)} pairs, layer {args.layer}, {args.threads} thread(s)")
    print(f"full encoder: {a:.1f} s; cut above layer {args.layer}: {b:.1f} s; ratio cut / full: {b / a:.2f}")
    print(f"identical links: {links['full'] == links['cut']}")


if __name__ == "__main__":
    main()
