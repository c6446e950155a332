"""Fine-tuning parity: xlt's ``zero_shot`` fine-tune against a minimal plain Hugging Face loop, in one go.

    python benchmarks/finetune_parity.py --model .cache/models/me5-small --seeds 13 14 15

Both train multilingual-e5-small (or ``--model``) on the first ``--train`` CoNLL-2003 English training
sentences with the same schedule (``--epochs`` 3, ``--lr`` 1e-4, ``--batch-size`` 16, ``--max-length``
128, 10 % linear warm-up then linear decay, AdamW with weight decay 0.01) and are scored on the first
``--test`` sentences of CoNLL-2003 en, CoNLL-2002 es and nl and WikiANN de (seqeval entity F1, the
last weights: no dev selection in either). The plain loop is what a new user writes: shuffled batches
from ``torch.randperm``, the fast tokenizer with first-sub-word labels, the model's own token-mean
cross-entropy, no gradient clipping, no frozen embeddings, nondeterministic kernels allowed. xlt runs
``finetune.train_model`` with the same settings (``--xlt-set key=value`` changes one, e.g.
``freeze_embeddings=true``; ``--plain-max-grad-norm 1.0`` gives the plain loop xlt's clipping).
Prints per-seed F1, mean ± sd per language, and the training-time ratio
xlt / plain measured in the same process. Figures: benchmarks/speed.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline_steps import formats  # noqa: E402
from pipeline_steps.evaluate import f1 as entity_f1  # noqa: E402
from pipeline_steps.finetune import train_config, train_model  # noqa: E402
from pipeline_steps.models.token_classification import load_model, load_tokenizer  # noqa: E402
from pipeline_steps.predict import predict_sentences  # noqa: E402
from pipeline_steps.tasks import make_task  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TESTS = {
    "en": (DATA / "conll2003/eng.testb", "conll2003", {}),
    "es": (DATA / "conll2002/esp.testb", "conll2002", {"input_scheme": "iob1"}),
    "nl": (DATA / "conll2002/ned.testb", "conll2002", {}),
    "de": (DATA / "wikiann/rahimi-split-davidsbatista/de/test", "wikiann", {}),
}
TYPES = ["PER", "ORG", "LOC", "MISC"]


def schema_finetune_defaults() -> dict:
    """The ``finetune:`` defaults of config/schema.yaml (the workflow's single source)."""
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text(encoding="utf-8"))
    props = schema["properties"]["finetune"]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


def read(path: Path, fmt: str, lang: str, split: str, limit: int, **opts):
    frame = formats.read(str(path), fmt, lang, split, **opts)
    return frame.iloc[:limit].reset_index(drop=True)


def plain_loop(model, tokenizer, train, tagset, args, seed: int) -> None:
    """A minimal loop: AdamW, linear warm-up/decay, first-sub-word labels, the model's token-mean CE."""
    label2id = {t: i for i, t in enumerate(tagset)}
    torch.manual_seed(seed)
    sentences, tags = [list(t) for t in train["tokens"]], [list(t) for t in train["tags"]]
    steps_per_epoch = math.ceil(len(sentences) / args.batch_size)
    total = steps_per_epoch * args.epochs
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    from transformers import get_linear_schedule_with_warmup

    sched = get_linear_schedule_with_warmup(opt, int(round(0.1 * total)), total)
    model.train()
    for _ in range(args.epochs):
        for idx in torch.randperm(len(sentences)).split(args.batch_size):
            words = [sentences[i] for i in idx]
            enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=args.max_length,
                            padding=True, return_tensors="pt")  # fmt: skip
            labels = torch.full(enc["input_ids"].shape, -100)
            for k, i in enumerate(idx.tolist()):
                seen = set()
                for pos, w in enumerate(enc.word_ids(k)):
                    if w is not None and w not in seen:
                        seen.add(w)
                        labels[k, pos] = label2id[tags[i][w]]
            loss = model(**enc, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            if args.plain_max_grad_norm:  # off by default: a new user's loop does not clip
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.plain_max_grad_norm)
            opt.step()
            sched.step()
    model.eval()


def xlt_loop(model_path, train, tagset, args, seed: int, overrides: dict):
    """xlt's zero_shot fine-tune through ``finetune.train_model`` (no dev set: the last weights)."""
    p = {
        **schema_finetune_defaults(),
        "lr": args.lr,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "freeze_embeddings": False,
        "eval_steps": 0,
        "checkpoint_steps": 0,
        "device": "cpu",
        **overrides,
        "method": "zero_shot",
        "seed": seed,
        "task": "ner",
        "labels": TYPES,
        "scheme": "bio",
        "method_params": {},
    }
    task = make_task("ner", p)
    with tempfile.TemporaryDirectory() as ckpt:
        model, tokenizer, _, _ = train_model(task, p, train_config(p, "zero_shot"), model_path, train, None,
                                             Path(ckpt), args.threads)  # fmt: skip
    return model.eval(), tokenizer


def scores(model, tokenizer, tests, args) -> dict[str, float]:
    out = {}
    for lang, frame in tests.items():
        pred = predict_sentences(model, tokenizer, [list(t) for t in frame["tokens"]], args.max_length, 64)[0]
        out[lang] = 100 * entity_f1([list(t) for t in frame["tags"]], pred)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15])
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=1500)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--xlt-set", nargs="*", default=[], help="finetune key=value (YAML values) for xlt only")
    ap.add_argument("--loops", nargs="+", default=["plain", "xlt"], choices=["plain", "xlt"])
    ap.add_argument(
        "--plain-max-grad-norm",
        type=float,
        default=None,
        help="clip the plain loop's gradient norm (xlt's default is 1.0): one of xlt's differences alone",
    )
    ap.add_argument(
        "--out",
        default=None,
        help="write the results as JSON here after every run; runs already in it are kept",
    )
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.xlt_set)}

    torch.set_num_threads(args.threads)
    train = read(DATA / "conll2003/eng.train", "conll2003", "en", "train", args.train)
    tests = {
        lang: read(path, fmt, lang, "test", args.test, **opts) for lang, (path, fmt, opts) in TESTS.items()
    }
    tagset = make_task("ner", {"labels": TYPES, "scheme": "bio"}).tagset
    results: dict[str, list[dict]] = {"plain": [], "xlt": []}
    if args.out and Path(args.out).exists():  # a later session adds seeds to the runs already written
        saved = json.loads(Path(args.out).read_text())
        same = {k for k in vars(args) if k not in ("seeds", "out", "threads", "loops")}
        changed = sorted(k for k in same if saved["args"].get(k) != vars(args)[k])
        if changed:
            raise SystemExit(
                f"{args.out} holds runs with other settings ({', '.join(changed)}): use another --out"
            )
        results = saved["results"]
    for seed in args.seeds:
        for name in args.loops:
            if any(r["seed"] == seed for r in results[name]):
                continue
            t0 = time.perf_counter()
            if name == "plain":
                tokenizer = load_tokenizer(args.model)
                model = load_model(args.model, tagset, seed=seed)
                plain_loop(model, tokenizer, train, tagset, args, seed)
            else:
                model, tokenizer = xlt_loop(args.model, train, tagset, args, seed, overrides)
            seconds = time.perf_counter() - t0
            f1 = scores(model, tokenizer, tests, args)
            results[name].append({"seed": seed, "seconds": seconds, **f1})
            print(
                f"seed {seed} {name:5s}: {seconds:7.1f} s  "
                + "  ".join(f"{k} {v:.1f}" for k, v in f1.items()),
                flush=True,
            )
            if args.out:  # after every run: a stopped benchmark keeps the seeds it finished
                Path(args.out).write_text(
                    json.dumps({"args": vars(args), "results": results}, indent=2) + "\n"
                )
    print("\n| loop | " + " | ".join(TESTS) + " | train s (mean) |")
    print("|---|" + "---:|" * (len(TESTS) + 1))
    for name, rows in results.items():
        if not rows:
            continue
        cells = []
        for lang in TESTS:
            v = [r[lang] for r in rows]
            cells.append(
                f"{statistics.mean(v):.1f} ± {statistics.stdev(v):.1f}" if len(v) > 1 else f"{v[0]:.1f}"
            )
        print(f"| {name} | " + " | ".join(cells) + f" | {statistics.mean(r['seconds'] for r in rows):.0f} |")
    if results["xlt"] and results["plain"]:
        ratio = sum(r["seconds"] for r in results["xlt"]) / sum(r["seconds"] for r in results["plain"])
        print(f"\ntraining-time ratio xlt / plain (same process, same seeds): {ratio:.2f}")


if __name__ == "__main__":
    main()
