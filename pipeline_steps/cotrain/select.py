"""Rule ``cotrain_select``: selection round k of paper 002 Alg. 1 (``methods/co_training.py:
select_round``) over both models' predictions of round k-1, written as the ``cotrain_state`` artifact."""

from __future__ import annotations

import logging

from pipeline_steps.cotrain import read_examples, read_items
from pipeline_steps.errors import ConfigError
from pipeline_steps.io import input_paths, read_artifact, read_artifacts, write_artifact
from pipeline_steps.methods.co_training import (
    SELECTIONS,
    initial_state,
    pick_size,
    round_summary,
    select_round,
)
from pipeline_steps.schemas import COTRAIN_STATE, EMB_PREDICTIONS, POOL_PREDICTIONS

log = logging.getLogger(__name__)


def main(ctx) -> None:
    """input: pool (the examples of each pool language), train (the labelled examples: n = |D|), state
    (round k-1; absent for k = 1), lm (pool_predictions of f_lm of round k-1, one per language), emb
    (emb_predictions of f_emb of round k-1); output: state (round k). params: task_kind, variant, seed,
    threshold, pick_fraction, selection."""
    p = ctx.params
    kind, variant, seed = str(p["task_kind"]), str(p["variant"]), int(p["seed"])
    state_paths = input_paths(ctx.input.get("state"))
    if state_paths:
        state = read_artifact(state_paths[0], COTRAIN_STATE)
        if len(state) and str(state["variant"].iloc[0]) != variant:
            raise ConfigError(f"{state_paths[0]}: variant {state['variant'].iloc[0]!r}, expected {variant!r}")
    else:
        state = initial_state(read_items(input_paths(ctx.input["pool"]), kind), variant)
    lm_items = input_paths(ctx.input["lm"])
    lm = read_artifacts(lm_items, POOL_PREDICTIONS)
    emb = read_artifact(str(ctx.input["emb"]), EMB_PREDICTIONS)
    emb = emb[emb["split"] == "unlabelled"]
    train = read_examples([str(ctx.input["train"])], kind)
    n_pick = pick_size(len(train), float(p["pick_fraction"]))
    selection = str(p.get("selection", "uniform"))
    if selection not in SELECTIONS:
        raise ConfigError(f"cotrain.selection must be one of {SELECTIONS}, got {selection!r}")
    shares = None
    if selection == "class_ratio":
        shares = train["label"].value_counts(normalize=True, sort=False).sort_index().to_dict()
        log.info("class_ratio selection: D's class shares %s", shares)
    new = select_round(
        state,
        {"lm": lm, "emb": emb},
        threshold=float(p["threshold"]),
        n_pick=n_pick,
        seed=seed,
        sources={"lm": ", ".join(lm_items), "emb": str(ctx.input["emb"])},
        class_shares=shares,
    )
    for col in ("lm_picked_in", "emb_picked_in"):
        new[col] = new[col].astype("Int64")
    write_artifact(new, ctx.output["state"], COTRAIN_STATE)
    log.info(
        "%s seed %d round %d (n_pick %d):\n%s",
        variant,
        seed,
        int(new["iteration"].iloc[0]),
        n_pick,
        round_summary(new).to_string(index=False),
    )
