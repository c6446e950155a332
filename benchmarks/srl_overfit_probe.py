"""Can the SRL tagger fit a handful of predicates? A learning-rate probe for ``config/srl.yaml``.

Trains xlt's SRL model (predicate markers, UPOS on the token types: ``tasks/srl.py``) on the first N
predicates of the English UPB file, full batch, the same batch every step, with AdamW at ``--lr`` for the
encoder and ``--head-lr`` for the new classifier head (``finetune.head_lr``), and prints the loss, how
many words it tags as an argument and the share of argument words it gets right, every 20 steps. A
schedule whose model never leaves "O everywhere" here cannot learn on the real training set in the
same number of steps.

    .venv/bin/python benchmarks/srl_overfit_probe.py --lr 2e-4 --steps 200
"""

from __future__ import annotations

import argparse

import torch
import yaml

from pipeline_steps import formats
from pipeline_steps.models.token_classification import collate, load_tokenizer
from pipeline_steps.tasks import make_task
from pipeline_steps.train.config import head_parameter_names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=".cache/models/me5-small")
    ap.add_argument("--data", default="../shared/data/upb/en_ewt-up-dev.conllu")
    ap.add_argument("--n", type=int, default=16, help="predicates (one batch)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--head-lr", type=float, default=None, help="classifier head (default: --lr)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--no-upos", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    with open("config/srl.yaml", encoding="utf-8") as f:
        labels = yaml.safe_load(f)["labels"]
    task = make_task("srl", {"labels": labels, "srl": {"upos": not args.no_upos}})
    frame = formats.read(args.data, "upb_ewt", "en", "train").head(args.n)
    tokenizer = load_tokenizer(args.model)
    model = task.load_model(args.model, 13)
    batch = collate(task.encode(frame, tokenizer, 128), list(range(len(frame))), int(tokenizer.pad_token_id))
    in_head = head_parameter_names(model)  # what finetune.head_lr applies to
    head = [p for n, p in model.named_parameters() if n in in_head]
    body = [p for n, p in model.named_parameters() if n not in in_head]
    groups = [{"params": body, "lr": args.lr}, {"params": head, "lr": args.head_lr or args.lr}]
    opt = torch.optim.AdamW(groups)
    outside = task.label2id["O"]
    model.train()
    for step in range(args.steps + 1):
        out = model(**batch)
        if step % 20 == 0:
            with torch.no_grad():
                gold, pred = batch["labels"], out.logits.argmax(-1)
                scored = gold != -100
                args_gold = scored & (gold != outside)
                right = (pred == gold)[args_gold].float().mean().item()
                tagged = int((pred[scored] != outside).sum())
            print(f"step {step:4d}  loss {out.loss.item():.4f}  words tagged {tagged:3d}  right {right:.2f}")
        out.loss.backward()
        opt.step()
        opt.zero_grad()


if __name__ == "__main__":
    main()
