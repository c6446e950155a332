"""Prediction benchmark: xlt's tagger prediction against a plain Hugging Face loop, same process.

    python benchmarks/predict_bench.py --model .cache/models/me5-small --n 1500 --batch-size 32

The plain loop is what a new user writes: the test sentences in file order, ``batch_size`` at a time,
the fast tokenizer with ``is_split_into_words`` and padding to the batch's longest, ``torch.no_grad``,
the argmax at each word's first sub-word. xlt's path is ``predict.predict_sentences`` (length-grouped
batches, ``inference_mode``). Both run on the same model, threads and sentences, alternately
(``--repeats`` rounds), so the printed ratio compares like with like on a noisy machine; the tags of
the two are compared word by word. A folder without a tagging head gets a seeded random one (timing
and agreement do not need a trained tagger). Figures: benchmarks/speed.md.
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
from pipeline_steps.models.batching import length_sorted_batches  # noqa: E402
from pipeline_steps.models.token_classification import load_model, load_tokenizer  # noqa: E402
from pipeline_steps.predict import predict_sentences  # noqa: E402

CONLL = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testb"
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@torch.no_grad()
def plain_loop(model, tokenizer, sentences, max_length: int, batch_size: int) -> list[list[str]]:
    """Tags of a plain Hugging Face loop, file order, first sub-word per word ('O' when cut)."""
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    out: list[list[str]] = []
    for lo in range(0, len(sentences), batch_size):
        chunk = [list(s) for s in sentences[lo : lo + batch_size]]
        enc = tokenizer(
            chunk, is_split_into_words=True, truncation=True, max_length=max_length, padding=True,
            return_tensors="pt",
        )  # fmt: skip
        best = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.argmax(-1)
        for k, words in enumerate(chunk):
            tags, seen = ["O"] * len(words), set()
            for pos, w in enumerate(enc.word_ids(k)):
                if w is not None and w not in seen:
                    seen.add(w)
                    tags[w] = labels[int(best[k, pos])]
            out.append(tags)
    return out


def padded_sub_words(lengths: list[int], batch_size: int) -> dict[str, int]:
    """Sub-words each loop's forward passes carry (rows x the batch's longest, padding included)."""
    plain = sum(
        len(lengths[lo : lo + batch_size]) * max(lengths[lo : lo + batch_size])
        for lo in range(0, len(lengths), batch_size)
    )
    xlt = sum(len(b) * lengths[b[0]] for b in length_sorted_batches(lengths, batch_size))
    return {"real": sum(lengths), "plain": plain, "xlt": xlt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a tagger folder or any encoder folder")
    ap.add_argument("--data", default=str(CONLL), help="CoNLL-2003 file (default: eng.testb)")
    ap.add_argument("--n", type=int, default=1500, help="first N sentences")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    frame = formats.read(args.data, "conll2003", "en", "test")
    sentences = [list(t) for t in frame["tokens"][: args.n]]
    tokenizer = load_tokenizer(args.model)
    model = load_model(args.model, TAGS, seed=13).eval()
    runs = {
        "plain": lambda: plain_loop(model, tokenizer, sentences, args.max_length, args.batch_size),
        "xlt": lambda: predict_sentences(model, tokenizer, sentences, args.max_length, args.batch_size)[0],
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    in_forward = {name: 0.0 for name in runs}
    forward, current = model.forward, [""]

    def timed_forward(*a, **k):  # the encoder's share of each loop's time
        t0 = time.perf_counter()
        out = forward(*a, **k)
        in_forward[current[0]] += time.perf_counter() - t0
        return out

    model.forward = timed_forward
    tags = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            current[0] = name
            t0 = time.perf_counter()
            tags[name] = run()
            times[name].append(time.perf_counter() - t0)
    words = sum(len(s) for s in sentences)
    pairs = zip(tags["plain"], tags["xlt"], strict=True)
    same = sum(a == b for p, x in pairs for a, b in zip(p, x, strict=True))
    plain, xlt = statistics.median(times["plain"]), statistics.median(times["xlt"])
    print(f"{len(sentences)} sentences, {words} words, batch {args.batch_size}, {args.threads} threads")
    print(f"plain loop: {plain:.1f} s (median of {args.repeats}; {len(sentences) / plain:.1f} sentences/s)")
    print(f"xlt:        {xlt:.1f} s ({len(sentences) / xlt:.1f} sentences/s)")
    print(f"ratio xlt / plain: {xlt / plain:.2f}; same tag on {same / words:.4%} of the words")
    share = {name: in_forward[name] / sum(times[name]) for name in runs}
    print(f"share of the time in the model's forward: plain {share['plain']:.1%}, xlt {share['xlt']:.1%}")
    enc = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=args.max_length)
    subs = padded_sub_words([len(ids) for ids in enc["input_ids"]], args.batch_size)
    print(
        f"sub-words per pass: {subs['real']} real; plain loop carries {subs['plain']} "
        f"({subs['plain'] / subs['real']:.2f}x), xlt {subs['xlt']} ({subs['xlt'] / subs['real']:.2f}x)"
    )


if __name__ == "__main__":
    main()
