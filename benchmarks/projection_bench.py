"""Projection benchmark: align -> project -> score on a pair of sentence-parallel gold files.

    python benchmarks/projection_bench.py project --src en.conll --tgt es.conll \\
        --backend eflomal fast_align --mapping span2span word2word [--extra-src X --extra-tgt Y]
    python benchmarks/projection_bench.py aer --gold-dir .../deen-vilar/DeEn --backend eflomal

Options of the embedding backend are ``--embedding-option KEY=VALUE`` (VALUE read as YAML); a dotted
KEY sets a nested option, e.g. awesome-align's self-training (``align.embedding.self_training``):

    python benchmarks/projection_bench.py aer --gold-dir ../shared/data/gold-alignments/deen-vilar/DeEn \
        --backend embedding --embedding-model .cache/models/me5-small \
        --embedding-option layer=8 method=softmax self_training.epochs=1 \
        --symmetrize-all intersection grow-diag-final-and --out results/projection/aer_so/aer.json

With ``self_training.epochs > 0`` the aligner trains on every pair it gets: in ``aer`` the gold pairs
plus ``--extra-src``/``--extra-tgt`` (without self-training the extra pairs are not passed to it).

The steps are the pipeline's own functions (``formats.read``, ``align.align_pairs``,
``project.project_frame``, ``projection_eval``); results go to ``results/projection/`` (see
benchmarks/projection.md for the figures and the exact commands).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline_steps import align, formats, project, projection_eval  # noqa: E402
from pipeline_steps.align.build_fast_align import build  # noqa: E402
from pipeline_steps.io import write_artifact, write_json  # noqa: E402
from pipeline_steps.pairs import pair_sentences  # noqa: E402
from pipeline_steps.schemas import PROJECTION_SCORES  # noqa: E402
from pipeline_steps.tags import spans_from_tags  # noqa: E402

log = logging.getLogger("projection_bench")


def pairs_from(src: pd.DataFrame, tgt: pd.DataFrame, corpus: str) -> pd.DataFrame:
    """A PAIRS frame from two row-parallel sentence frames (the workflow's pair_parallel step)."""
    return pair_sentences(src, tgt, corpus, src["lang"].iloc[0], tgt["lang"].iloc[0])


def spans_frame(sentences: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """SPANS rows of the gold source tags."""
    rows = [
        {
            "sentence_id": sid,
            "start": a,
            "end": b,
            "label": lab,
            "text": " ".join(toks[a:b]),
            "origin": "gold",
        }
        for sid, toks, tags in zip(sentences["id"], sentences["tokens"], sentences["tags"], strict=True)
        for a, b, lab in spans_from_tags(tags, scheme)
    ]
    return pd.DataFrame(rows, columns=["sentence_id", "start", "end", "label", "text", "origin"])


def read_extra(args, src_lang: str, tgt_lang: str) -> list[pd.DataFrame]:
    if not args.extra_src:
        return []
    src = formats.read(args.extra_src, args.extra_format, src_lang, "par", tokenize="moses")
    tgt = formats.read(args.extra_tgt, args.extra_format, tgt_lang, "par", tokenize="moses")
    if args.extra_limit:
        src, tgt = src.head(args.extra_limit), tgt.head(args.extra_limit)
    return [pairs_from(src, tgt, "par")]


def fast_align_bin(args) -> str | None:
    if args.fast_align_bin:
        return args.fast_align_bin
    if args.fast_align_source:
        dest = Path(args.tools_dir) / (args.fast_align_commit or "local")[:12]
        binary = dest / "fast_align"
        if not binary.exists():
            build(args.fast_align_source, args.fast_align_commit, dest)
        return str(binary)
    return None  # fast_align on PATH


def backend_options(args, backend: str) -> dict:
    if backend == "fast_align":
        return {"binary": fast_align_bin(args)}
    if backend == "embedding":
        return {"name_or_path": args.embedding_model, **embedding_options(args.embedding_option)}
    return {"rel_iterations": args.rel_iterations} if backend == "eflomal" else {}


def embedding_options(items: list[str]) -> dict:
    """``KEY=VALUE`` items as backend options (VALUE parsed as YAML, ``2e-5`` as a number too); a dotted
    KEY is nested: ``self_training.epochs=1`` -> ``{"self_training": {"epochs": 1}}``."""
    opts: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--embedding-option {item!r}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        node = opts
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SystemExit(f"--embedding-option {item!r}: {part} is not a nested option")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 2e-5 (no dot) as a string
            with contextlib.suppress(ValueError):
                parsed = float(parsed)
        node[leaf] = parsed
    return opts


def mean_sd(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}


def cmd_project(args) -> dict:
    src = formats.read(args.src, args.format, args.src_lang, "gold", args.scheme)
    tgt = formats.read(args.tgt, args.format, args.tgt_lang, "gold", args.scheme)
    pairs = pairs_from(src, tgt, "gold")
    spans = spans_frame(src, args.scheme)
    extra = read_extra(args, args.src_lang, args.tgt_lang)
    n_extra = sum(map(len, extra))
    runs, frames = [], []
    for backend in args.backend:
        per_mapping: dict[str, list[dict]] = {m: [] for m in args.mapping}
        repeats = args.repeats if backend == "eflomal" else 1  # fast_align is deterministic
        for rep in range(repeats):
            start = time.perf_counter()
            alignments = align.align_pairs(
                pairs,
                extra,
                backend=backend,
                symmetrization=args.symmetrize,
                seed=rep,
                threads=args.threads,
                options=backend_options(args, backend),
            )
            seconds = time.perf_counter() - start
            for mapping in args.mapping:
                projected, totals = project.project_frame(
                    pairs, alignments, spans, mapping=mapping, scheme=args.scheme, lang=args.tgt_lang
                )
                counts = projection_eval.score_language(projected, tgt, args.scheme)
                scores = projection_eval.scores_frame({args.tgt_lang: counts}, backend, mapping)
                summary = projection_eval.summary_of(scores, backend, mapping)
                per_mapping[mapping].append(
                    {**summary[args.tgt_lang], "totals": totals, "align_seconds": seconds}
                )
                if rep == 0:
                    frames.append(scores)
        for mapping, reps in per_mapping.items():
            first = reps[0]
            run = {
                "backend": backend,
                "mapping": mapping,
                "symmetrize": args.symmetrize,
                **({"rel_iterations": args.rel_iterations} if backend == "eflomal" else {}),
                **({"options": backend_options(args, backend)} if backend == "embedding" else {}),
                "extra_pairs": n_extra,
                "repeats": len(reps),
                args.tgt_lang: {k: v for k, v in first.items() if k not in ("totals", "align_seconds")},
                "totals": first["totals"],
                "align_seconds": round(statistics.fmean(r["align_seconds"] for r in reps), 1),
            }
            if len(reps) > 1:
                run["F1_over_repeats"] = mean_sd([r["F1"] for r in reps])
                run["P_over_repeats"] = mean_sd([r["P"] for r in reps])
                run["R_over_repeats"] = mean_sd([r["R"] for r in reps])
            runs.append(run)
            f1 = run.get("F1_over_repeats", {"mean": first["F1"], "sd": 0.0})
            print(
                f"{backend:10s} {mapping:9s} extra={n_extra:<5d} P={first['P']:.4f} R={first['R']:.4f} "
                f"F1={first['F1']:.4f} (F1 over {len(reps)} run(s): {f1['mean']:.4f} +- {f1['sd']:.4f}) "
                f"spans {first['totals']}"
            )
    out = {
        "src": str(args.src),
        "tgt": str(args.tgt),
        "pairs": len(pairs),
        "gold_src_spans": len(spans),
        "runs": runs,
    }
    write_json(out, args.out)
    write_artifact(
        pd.concat(frames, ignore_index=True), Path(args.out).with_name("scores.parquet"), PROJECTION_SCORES
    )
    return out


def read_plain(path: Path, encoding: str) -> list[list[str]]:
    lines = path.read_text(encoding=encoding).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.split() for line in lines]


def cleaned(sentences: list[list[str]], lowercase: bool) -> list[list[str]]:
    """The words as the workflow's align step hands them to a backend (``align.clean_token``)."""
    return [[align.clean_token(w, lowercase) for w in s] for s in sentences]


def cmd_aer(args) -> dict:
    gold = Path(args.gold_dir)
    de, en = read_plain(gold / "de", "latin-1"), read_plain(gold / "en", "latin-1")
    sure, possible = align.read_talp(gold / "alignmentDeEn.talp", [len(s) for s in de], [len(s) for s in en])
    src, tgt = list(de), list(en)
    n_extra = 0
    if args.extra_src:
        xs = formats.read(args.extra_src, "lines", "de", "par", tokenize="moses")
        xt = formats.read(args.extra_tgt, "lines", "en", "par", tokenize="moses")
        src += list(xs["tokens"])
        tgt += list(xt["tokens"])
        n_extra = len(xs)
    # baseline: source word i -> target word round(i (m - 1) / (n - 1))
    diagonal = [
        {(i, round(i * (len(e) - 1) / max(1, len(d) - 1))) for i in range(len(d))}
        for d, e in zip(de, en, strict=True)
    ]
    runs = [
        {
            "backend": "diagonal",
            "alignment": "-",
            "extra_pairs": 0,
            "AER": mean_sd([align.aer(diagonal, sure, possible)]),
        }
    ]
    print(f"diagonal baseline AER={runs[0]['AER']['mean']:.4f}")
    if args.variant:
        runs += embedding_variants(args, src, tgt, len(de), sure, possible, n_extra)
        out = {"gold_dir": str(gold), "pairs": len(de), "dev_pairs": args.dev_pairs, "runs": runs}
        write_json(out, args.out)
        return out
    for backend in args.backend:
        repeats = args.repeats if backend == "eflomal" else 1
        per_method: dict[str, list[float]] = {m: [] for m in args.symmetrize_all}
        for rep in range(repeats):
            module = align.get_backend(backend)
            options = backend_options(args, backend)
            used = len(src) if module.trains_on_corpus(options) else len(de)  # as align.align_corpus
            clean_src = cleaned(src[:used], module.LOWERCASE)
            clean_tgt = cleaned(tgt[:used], module.LOWERCASE)
            fwd, rev = module.directional(
                clean_src, clean_tgt, seed=rep, threads=args.threads, options=options
            )
            fwd, rev = fwd[: len(de)], rev[: len(de)]
            per_method.setdefault("forward", []).append(align.aer(fwd, sure, possible))
            per_method.setdefault("reverse", []).append(align.aer(rev, sure, possible))
            for method in args.symmetrize_all:
                hyp = [align.symmetrize.symmetrize(f, r, method) for f, r in zip(fwd, rev, strict=True)]
                per_method[method].append(align.aer(hyp, sure, possible))
        for method, values in per_method.items():
            run = {"backend": backend, "alignment": method, "extra_pairs": n_extra, "AER": mean_sd(values)}
            runs.append(run)
            print(
                f"{backend:10s} {method:20s} extra={n_extra:<5d} "
                f"AER={run['AER']['mean']:.4f} +- {run['AER']['sd']:.4f}"
            )
    out = {"gold_dir": str(gold), "pairs": len(de), "repeats": args.repeats, "runs": runs}
    write_json(out, args.out)
    return out


def split_aer(hyp: list, sure: list, possible: list, n_dev: int) -> dict[str, float]:
    """AER on all pairs, and with ``n_dev`` > 0 on the first ``n_dev`` (dev) and the rest (test)."""
    scores = {"all": align.aer(hyp, sure, possible)}
    if n_dev > 0:
        scores["dev"] = align.aer(hyp[:n_dev], sure[:n_dev], possible[:n_dev])
        scores["test"] = align.aer(hyp[n_dev:], sure[n_dev:], possible[n_dev:])
    return scores


def embedding_variants(args, src, tgt, n_gold: int, sure, possible, n_extra: int) -> list[dict]:
    """One encoder (``--embedding-option``, fine-tuned once with ``self_training.epochs > 0``), aligned
    with each ``--variant`` of its extraction options (method, layer at most the trained one,
    granularity, softmax_threshold, distortion); AER per variant and symmetrization."""
    import dataclasses

    import torch

    from pipeline_steps.align import embedding

    if args.backend != ["embedding"]:
        raise SystemExit("--variant needs --backend embedding")
    settings = embedding.EmbeddingSettings.from_options(backend_options(args, "embedding"))
    device = embedding.default_device(settings.device)
    torch.set_num_threads(max(1, args.threads))
    clean_src, clean_tgt = cleaned(src, embedding.LOWERCASE), cleaned(tgt, embedding.LOWERCASE)
    start = time.perf_counter()
    tokenizer, model, settings = embedding.prepared_encoder(
        clean_src, clean_tgt, settings, seed=0, device=device
    )
    print(f"encoder ready in {time.perf_counter() - start:.0f} s ({len(src)} pairs)")
    runs = []
    for variant in args.variant:
        changes = embedding_options(variant)
        if "self_training" in changes or int(changes.get("layer", settings.layer)) > settings.layer:
            raise SystemExit(f"--variant {variant}: extraction options only, layer <= {settings.layer}")
        chosen = dataclasses.replace(settings, **changes)
        chosen.check()
        fwd, rev = embedding.align_sentences(
            clean_src[:n_gold], clean_tgt[:n_gold], tokenizer, model, chosen, device
        )
        hyps = {"forward": fwd, "reverse": rev}
        for method in args.symmetrize_all:
            hyps[method] = [align.symmetrize.symmetrize(f, r, method) for f, r in zip(fwd, rev, strict=True)]
        for method, hyp in hyps.items():
            aer = split_aer(hyp, sure, possible, args.dev_pairs)
            name = " ".join(variant)
            runs.append({"variant": name, "alignment": method, "extra_pairs": n_extra, "AER": aer})
            shown = " ".join(f"{k}={v:.4f}" for k, v in aer.items())
            print(f"{name:45s} {method:20s} {shown}")
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", nargs="+", default=["eflomal"], choices=sorted(align.BACKENDS))
    common.add_argument("--fast-align-bin", help="fast_align binary (default: fast_align on PATH)")
    common.add_argument("--fast-align-source", help="build fast_align from this git URL/dir instead")
    common.add_argument("--fast-align-commit", help="commit to check out when building")
    common.add_argument(
        "--tools-dir", default=str(ROOT / ".cache" / "tools" / "fast_align"), help="build here"
    )
    common.add_argument("--extra-src", help="extra parallel text for the aligner (source side)")
    common.add_argument("--extra-tgt", help="extra parallel text for the aligner (target side)")
    common.add_argument("--repeats", type=int, default=1, help="eflomal runs (it cannot be seeded)")
    common.add_argument("--threads", type=int, default=1)
    common.add_argument("--embedding-model", help="encoder (HF name or folder) of the embedding backend")
    common.add_argument(
        "--embedding-option",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="options of the embedding backend, e.g. layer=8 method=argmax self_training.epochs=1",
    )
    common.add_argument(
        "--rel-iterations",
        type=float,
        default=1.0,
        help="eflomal's iteration multiplier (it scales 1/sqrt(pairs))",
    )

    p = sub.add_parser("project", parents=[common], help="projection P/R/F1 on two gold files")
    p.add_argument("--src", required=True)
    p.add_argument("--tgt", required=True)
    p.add_argument("--format", default="tsv", choices=sorted(formats.READERS))
    p.add_argument("--src-lang", default="en")
    p.add_argument("--tgt-lang", default="es")
    p.add_argument("--scheme", default="bio", choices=["bio", "bioes"])
    p.add_argument("--mapping", nargs="+", default=["span2span"], choices=list(project.MAPPINGS))
    p.add_argument("--symmetrize", default="grow-diag-final-and", choices=sorted(align.METHODS))
    p.add_argument("--extra-format", default="lines", choices=sorted(formats.READERS))
    p.add_argument("--extra-limit", type=int, default=0, help="use only the first N extra pairs")
    p.add_argument("--out", default=str(ROOT / "results" / "projection" / "summary.json"))

    a = sub.add_parser("aer", parents=[common], help="AER on de-en gold alignments (TALP format)")
    a.add_argument("--gold-dir", required=True, help="folder with de, en, alignmentDeEn.talp")
    a.add_argument(
        "--symmetrize-all",
        nargs="+",
        default=["intersection", "grow-diag-final-and", "union"],
        choices=sorted(align.METHODS),
    )
    a.add_argument(
        "--variant",
        nargs="+",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extraction variant of the one (fine-tuned) encoder, e.g. method=softmax "
        "softmax_threshold=0.1; repeat the flag for more",
    )
    a.add_argument(
        "--dev-pairs", type=int, default=0, help="also score the first N gold pairs (dev) and the rest (test)"
    )
    a.add_argument("--out", default=str(ROOT / "results" / "projection" / "aer.json"))

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "project":
        cmd_project(args)
    else:
        cmd_aer(args)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
