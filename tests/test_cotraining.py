"""Paper 002 (Yu & Joty 2021): label alignment (Eq. 2), semantic alignment (Eq. 4), one round of Alg. 1
(co- and self-training), the frozen f_emb encoder, and the bad inputs of each."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers_model import toy_sentences, toy_tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.losses.label_alignment import label_alignment
from pipeline_steps.losses.semantic_alignment import semantic_alignment
from pipeline_steps.method_names import method_iteration, split_method
from pipeline_steps.methods.co_training import (
    class_quotas,
    initial_state,
    pick_size,
    pseudo_labelled,
    round_summary,
    select_round,
)
from pipeline_steps.methods.language_adaptation import SemanticAlignmentRecipe, Settings
from pipeline_steps.models.sentence_embedding import (
    HeadConfig,
    HfEncoder,
    pair_features,
    predict_head,
    train_head,
)
from pipeline_steps.models.sequence_classification import ClsEncoded

LABELS = ["pos", "neg", "neu"]

# ------------------------------------------------------------------------------- LA (Eq. 2)


def test_label_alignment_equals_a_hand_computation_on_four_examples():
    # four unit vectors at right angles, two classes: each anchor's one positive is at 90 degrees
    # (dot 0), its denominator holds the positive (0), the opposite vector (-1) and the other one at
    # 90 degrees (0): L_i = log(2 + e^-1 / ...) with tau = 1 -> log(e^0 + e^-1 + e^0) - 0
    h = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    by_hand = math.log(2 + math.exp(-1))
    assert label_alignment(h, labels, tau=1.0).item() == pytest.approx(by_hand, rel=1e-6)
    assert label_alignment(h, labels, tau=1.0, reduction="sum").item() == pytest.approx(4 * by_hand, rel=1e-6)
    # tau = 0.5 doubles every similarity; the vectors are normalised first, so scaling h changes nothing
    by_hand_half = math.log(2 + math.exp(-2))
    assert label_alignment(3 * h, labels, tau=0.5).item() == pytest.approx(by_hand_half, rel=1e-6)


def test_label_alignment_averages_over_positives_and_skips_singleton_classes():
    h = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1])  # anchor 3 is alone in its class: no term
    s = (torch.nn.functional.normalize(h, dim=-1) @ torch.nn.functional.normalize(h, dim=-1).T).numpy()
    terms = []
    for i in range(3):
        denom = sum(math.exp(s[i, k]) for k in range(4) if k != i)
        pos = [j for j in range(3) if j != i]
        terms.append(sum(-math.log(math.exp(s[i, j]) / denom) for j in pos) / len(pos))
    assert label_alignment(h, labels, tau=1.0).item() == pytest.approx(np.mean(terms), rel=1e-6)
    assert label_alignment(h, torch.tensor([0, 1, 2, 3]), tau=1.0).item() == 0.0  # no positives at all


def test_label_alignment_rejects_bad_arguments():
    with pytest.raises(ValueError, match="tau"):
        label_alignment(torch.zeros(2, 2), torch.tensor([0, 0]), tau=0.0)
    with pytest.raises(ValueError, match="reduction"):
        label_alignment(torch.zeros(2, 2), torch.tensor([0, 0]), tau=1.0, reduction="max")
    with pytest.raises(ValueError, match="labels"):
        label_alignment(torch.zeros(2, 2), torch.tensor([0, 0, 1]), tau=1.0)


# ------------------------------------------------------------------------------- SA (Eq. 4)


def test_semantic_alignment_equals_a_hand_computation():
    anchor = torch.tensor([[1.0, 0.0]])
    positives = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # b = 2 translations
    negatives = torch.tensor([[[-1.0, 0.0], [0.0, 1.0]]])
    tau = 0.5
    dots = [1.0, 0.0, -1.0, 0.0]
    denom = sum(math.exp(d / tau) for d in dots)
    by_hand = -(math.log(math.exp(1.0 / tau) / denom) + math.log(math.exp(0.0 / tau) / denom))
    assert semantic_alignment(anchor, positives, negatives, tau).item() == pytest.approx(by_hand, rel=1e-6)
    # a padded member is not in the denominator
    mask = torch.tensor([[True, False]])
    one = semantic_alignment(anchor, positives, negatives, tau, positive_mask=mask, negative_mask=mask)
    assert one.item() == pytest.approx(-math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(-2.0))), rel=1e-5)


def sa_frame() -> tuple[pd.DataFrame, ClsEncoded]:
    """D: 4 source examples (labels pos, neg, pos, neu); D_bi: translations of s0 (de, es) and s1 (de)."""
    frame = pd.DataFrame(
        {
            "id": ["s0", "s1", "s2", "s3", "t0de", "t0es", "t1de"],
            "label": ["pos", "neg", "pos", "neu", "pos", "pos", "neg"],
            "source": [None, None, None, None, "s0", "s0", "s1"],
        }
    )
    ids = [[0, 10 + i, 2] for i in range(len(frame))]
    enc = ClsEncoded(ids, None, [LABELS.index(x) for x in frame["label"]], pad_id=1)
    return frame, enc


SA_SETTINGS = Settings(0.1, 0.1, 0.3, ("src", "bi"), "mean", 1e-5, 1, 8, "bi")


@pytest.mark.parametrize("negatives", ["bi", "src", "both"])
def test_semantic_alignment_batches_are_the_ones_eq4_names(negatives):
    frame, enc = sa_frame()
    pool = {"bi": [4, 5, 6], "src": [0, 1, 2, 3], "both": list(range(7))}[negatives]
    s = Settings(**{**SA_SETTINGS.__dict__, "negatives": negatives})
    recipe = SemanticAlignmentRecipe(
        enc, anchors=[0, 1], positives=[[4, 5], [6]], negative_pool=pool, seed=3, s=s
    )
    for epoch in range(3):
        (plan,) = list(recipe.plans(epoch))
        assert sorted(a for a, _, _ in plan) == [0, 1]
        for anchor, pos, neg in plan:
            # positives: exactly the anchor's translations; negatives: b texts of the pool, other label
            assert pos == {0: [4, 5], 1: [6]}[anchor]
            candidates = [r for r in pool if frame["label"][r] != frame["label"][anchor]]
            assert len(neg) == min(len(pos), len(candidates)) and len(set(neg)) == len(neg)
            assert set(neg) <= set(candidates)
    batch = recipe.collate([(0, [4, 5], [6, 3])])
    assert batch["anchor_rows"].tolist() == [0]
    assert batch["positive_rows"].tolist() == [[1, 2]] and batch["negative_rows"].tolist() == [[3, 4]]
    assert batch["labels"].tolist() == [0, 0, 0, 1, 2]  # the anchor, its translations, the negatives


# ------------------------------------------------------------------------------- Alg. 1


def toy_pool(n: int = 8) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(n)],
            "lang": ["de"] * (n // 2) + ["es"] * (n - n // 2),
            "text_a": [f"text {i}" for i in range(n)],
            "text_b": [None] * n,
            "label": [LABELS[i % 3] for i in range(n)],
        }
    )


def preds(ids, labels, scores) -> pd.DataFrame:
    return pd.DataFrame({"id": list(ids), "pred": list(labels), "score": list(scores)})


@pytest.mark.parametrize("variant", ["co_training", "self_training"])
def test_one_round_moves_exactly_the_selected_items(variant):
    pool = toy_pool()
    state = initial_state(pool, variant)
    ids = list(pool["id"])
    # lm is sure of u0, u1, u2 (u3 sits exactly at t: not > t); emb of u4, u5 only
    lm = preds(ids, ["pos"] * 8, [0.95, 0.99, 0.91, 0.9, 0.2, 0.3, 0.1, 0.5])
    emb = preds(ids, ["neg"] * 8, [0.1, 0.1, 0.1, 0.1, 0.97, 0.93, 0.5, 0.89])
    new = select_round(state, {"lm": lm, "emb": emb}, threshold=0.9, n_pick=2, seed=1)
    assert new["iteration"].eq(1).all() and state["iteration"].eq(0).all()  # the input is untouched
    lm_picked = set(new.loc[new["lm_picked_in"] == 1, "id"])
    emb_picked = set(new.loc[new["emb_picked_in"] == 1, "id"])
    assert len(lm_picked) == 2 and lm_picked <= {"u0", "u1", "u2"}  # n/3 cap: 2 of the 3 candidates
    assert emb_picked == {"u4", "u5"}  # fewer candidates than the cap: all of them
    lm_set, emb_set = set(pseudo_labelled(new, "lm")["id"]), set(pseudo_labelled(new, "emb")["id"])
    if variant == "co_training":  # each model trains on the OTHER's picks, with the picker's labels
        assert lm_set == emb_picked and emb_set == lm_picked
        assert set(pseudo_labelled(new, "lm")["label"]) == {"neg"}
    else:
        assert lm_set == lm_picked and emb_set == emb_picked
        assert set(pseudo_labelled(new, "lm")["label"]) == {"pos"}
    # the picked items left their view's pool: a second round cannot pick them again, and keeps labels
    lm2 = preds(ids, ["neu"] * 8, [0.99] * 8)
    newer = select_round(new, {"lm": lm2, "emb": emb}, threshold=0.9, n_pick=10, seed=1)
    assert set(newer.loc[newer["lm_picked_in"] == 1, "id"]) == lm_picked
    assert set(newer.loc[newer["lm_picked_in"] == 2, "id"]) == set(ids) - lm_picked
    assert (newer.loc[newer["lm_picked_in"] == 1, "lm_pred"] == "pos").all()
    summary = round_summary(newer).set_index("view")
    assert summary.loc["lm", "picked"] == 6 and summary.loc["lm", "pool_left"] == 0
    assert summary.loc["emb", "picked_total"] == 2


def test_the_n_over_3_rule():
    assert pick_size(5000, 1 / 3) == 1667 and pick_size(2000, 1 / 3) == 667 and pick_size(3, 1 / 3) == 1
    assert pick_size(1838, 0.3333333333) == 613


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(st.floats(0, 0.999), min_size=1, max_size=30),
    threshold=st.floats(0, 0.99),
    n_pick=st.integers(1, 10),
    seed=st.integers(0, 100),
)
def test_a_round_picks_only_confident_items_at_most_n_and_is_seeded(scores, threshold, n_pick, seed):
    pool = toy_pool(len(scores))
    p = preds(pool["id"], ["pos"] * len(scores), scores)
    one = select_round(
        initial_state(pool, "co_training"), {"lm": p, "emb": p}, threshold=threshold, n_pick=n_pick, seed=seed
    )
    again = select_round(
        initial_state(pool, "co_training"), {"lm": p, "emb": p}, threshold=threshold, n_pick=n_pick, seed=seed
    )
    picked = one[one["lm_picked_in"].notna()]
    assert (picked["lm_confidence"] > threshold).all()
    n_candidates = int((np.array(scores) > threshold).sum())
    assert len(picked) == min(n_pick, n_candidates)
    pd.testing.assert_frame_equal(one, again)


def test_class_quotas_split_n_by_the_labelled_shares_and_sum_to_n():
    # 10 * (0.5, 0.3, 0.2) = 5, 3, 2 exactly; 7 * the same = 3.5, 2.1, 1.4 -> floors 3, 2, 1, and the one
    # left goes to the largest remainder (pos, 0.5)
    assert class_quotas(10, {"pos": 0.5, "neg": 0.3, "neu": 0.2}) == {"pos": 5, "neg": 3, "neu": 2}
    assert class_quotas(7, {"pos": 0.5, "neg": 0.3, "neu": 0.2}) == {"pos": 4, "neg": 2, "neu": 1}
    assert class_quotas(2, {"a": 1, "b": 1, "c": 1}) == {"a": 1, "b": 1, "c": 0}  # ties: first named
    with pytest.raises(ConfigError, match="class shares"):
        class_quotas(3, {})


def test_class_ratio_selection_draws_each_class_quota_from_its_own_candidates():
    pool = toy_pool(8)
    ids = list(pool["id"])
    # lm: six confident "neg", two confident "pos"; D is 1/2 pos, 1/4 neg, 1/4 neu
    lm = preds(ids, ["neg"] * 6 + ["pos"] * 2, [0.99] * 8)
    emb = preds(ids, ["neu"] * 8, [0.1] * 8)
    shares = {"pos": 0.5, "neg": 0.25, "neu": 0.25}

    def one_round():
        state = initial_state(pool, "co_training")
        return select_round(
            state, {"lm": lm, "emb": emb}, threshold=0.9, n_pick=4, seed=3, class_shares=shares
        )

    new = one_round()
    picked = new[new["lm_picked_in"] == 1]
    # quotas pos 2, neg 1, neu 1: both pos candidates, one of the six neg, and no neu (none predicted);
    # neu's unfilled quota is not handed to neg (uniform selection would take four, mostly neg)
    assert sorted(picked["lm_pred"]) == ["neg", "pos", "pos"]
    assert set(picked.loc[picked["lm_pred"] == "pos", "id"]) == {"u6", "u7"}
    assert new["emb_picked_in"].isna().all()
    pd.testing.assert_frame_equal(new, one_round())  # seeded


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=30),
    n_pick=st.integers(1, 12),
    share_a=st.floats(0.05, 0.9),
    seed=st.integers(0, 50),
)
def test_class_ratio_picks_never_exceed_a_class_quota(labels, n_pick, share_a, seed):
    pool = toy_pool(len(labels))
    p = preds(pool["id"], labels, [0.95] * len(labels))
    shares = {"a": share_a, "b": (1 - share_a) / 2, "c": (1 - share_a) / 2}
    new = select_round(
        initial_state(pool, "self_training"),
        {"lm": p, "emb": p},
        threshold=0.5,
        n_pick=n_pick,
        seed=seed,
        class_shares=shares,
    )
    quotas = class_quotas(n_pick, shares)
    got = new.loc[new["lm_picked_in"].notna(), "lm_pred"].value_counts().to_dict()
    for label, quota in quotas.items():
        assert got.get(label, 0) == min(quota, labels.count(label))


def test_a_round_names_the_pool_item_without_a_prediction():
    pool = toy_pool(4)
    p = preds(pool["id"][:3], ["pos"] * 3, [0.99] * 3)
    full = preds(pool["id"], ["pos"] * 4, [0.99] * 4)
    with pytest.raises(ArtifactError, match="u3"):
        select_round(
            initial_state(pool, "co_training"), {"lm": p, "emb": full}, threshold=0.9, n_pick=2, seed=0
        )
    with pytest.raises(ConfigError, match="threshold"):
        select_round(
            initial_state(pool, "co_training"), {"lm": full, "emb": full}, threshold=1.0, n_pick=2, seed=0
        )
    with pytest.raises(ConfigError, match="variant"):
        initial_state(pool, "tri_training")


def test_method_names_of_the_rounds():
    assert method_iteration("co_training-iter1", 3) == 1 and method_iteration("co_training", 3) == 3
    assert (
        method_iteration("zero_shot", 3) is None and split_method("self_training-iter2")[0] == "self_training"
    )
    for bad in ("zero_shot-iter1", "co_training-iter0"):
        with pytest.raises(ConfigError, match="iter"):
            split_method(bad)


# ------------------------------------------------------------------------------- f_emb


def digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def test_the_frozen_encoder_stays_bit_identical_while_the_head_trains(tmp_path):
    encoder = HfEncoder(toy_tiny_model(tmp_path))
    before = digest(encoder.model)
    texts = [" ".join(t) for t in toy_sentences("en", 24, seed=1)["tokens"]]
    first = encoder.encode(texts)
    x = pair_features(first[:12], first[12:])
    y = np.arange(12) % 3
    head, info = train_head(x, y, 3, HeadConfig(epochs=5, lr=1e-2, batch_size=4, weight_decay=0.01), seed=0)
    assert info["best_epoch"] == 5
    assert digest(encoder.model) == before  # nothing of the encoder trained
    assert not any(p.requires_grad for p in encoder.model.parameters())
    assert not encoder.model.training  # eval mode: no dropout, the same text gives the same vector
    assert np.array_equal(encoder.encode(texts), first)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    probs = predict_head(head, x)
    assert probs.shape == (12, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-6)


def test_head_training_is_seeded_and_keeps_the_best_dev_epoch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    config = HeadConfig(epochs=15, lr=5e-2, batch_size=8, weight_decay=0.0)
    a, info = train_head(x, y, 2, config, seed=4, dev=(x[:20], y[:20]))
    b, _ = train_head(x, y, 2, config, seed=4, dev=(x[:20], y[:20]))
    assert torch.equal(a.weight, b.weight)
    assert info["best_dev_accuracy"] >= 0.9
    assert (predict_head(a, x[:20]).argmax(1) == y[:20]).mean() == info["best_dev_accuracy"]
    with pytest.raises(ValueError, match="labels"):
        train_head(x, y[:5], 2, config, seed=0)
    with pytest.raises(ValueError, match="shape"):
        pair_features(x[:, :4], x[:3, :4])


# ------------------------------------------------------------------------------- LA recipe (Eq. 3)


def test_label_alignment_recipe_adds_la_only_over_the_sets_la_on_names(tmp_path):
    from pipeline_steps.methods.language_adaptation import LabelAlignmentRecipe
    from pipeline_steps.models.sequence_classification import encode_cls, load_cls_model
    from pipeline_steps.models.token_classification import load_tokenizer

    tiny = toy_tiny_model(tmp_path)
    tok, model = load_tokenizer(tiny), load_cls_model(tiny, LABELS, seed=0)
    model.eval()  # no dropout: the two passes below see the same numbers
    texts = [" ".join(t) for t in toy_sentences("en", 6, seed=2)["tokens"]]
    enc = encode_cls(tok, texts, None, [0, 0, 1, 1, 2, 2], 32)
    s = Settings(0.5, 0.1, 0.3, ("src", "bi"), "mean", 1e-5, 1, 8, "bi")
    none = LabelAlignmentRecipe(enc, [False] * 6, 6, 0, s)
    batch = none.collate(list(range(6)))
    loss = none.loss(model, batch)
    assert none.last["la"] == 0.0 and loss.item() == pytest.approx(none.last["ce"], rel=1e-6)
    every = LabelAlignmentRecipe(enc, [True] * 6, 6, 0, s)
    loss = every.loss(model, every.collate(list(range(6))))
    assert every.last["la"] > 0
    assert loss.item() == pytest.approx(every.last["ce"] + 0.5 * every.last["la"], rel=1e-5)
    assert every.last["ce"] == pytest.approx(none.last["ce"], rel=1e-6)


# ------------------------------------------------------------------------------- report (Fig. 3)


def test_the_per_round_curve_averages_targets_then_seeds_and_shares_round_0(tmp_path):
    from pipeline_steps.report_cotraining import curve, emb_rows, lm_rows, markdown, plot

    metrics = pd.DataFrame(
        [
            (m, seed, lang, "accuracy", acc, 10)
            for m, seed, lang, acc in [
                ("zero_shot", 1, "de", 0.5), ("zero_shot", 1, "es", 0.7), ("zero_shot", 1, "en", 0.9),
                ("zero_shot", 2, "de", 0.6), ("zero_shot", 2, "es", 0.6),
                ("co_training", 1, "de", 0.8), ("co_training", 1, "es", 0.6),
                ("co_training", 2, "de", 0.7), ("co_training", 2, "es", 0.7),
            ]
        ],
        columns=["method", "seed", "lang", "metric", "value", "support"],
    )  # fmt: skip
    lm = lm_rows(metrics, {"co_training": ["zero_shot", "co_training"]}, ["de", "es"])
    emb = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "a", "b"],
            "lang": ["de", "de", "es", "en", "de", "de"],
            "split": "test",
            "gold": ["x", "y", "x", "x", "x", "y"],
            "pred": ["x", "x", "x", "y", "x", "y"],
            "variant": ["base"] * 4 + ["co_training"] * 2,
            "seed": 1,
            "iteration": [0, 0, 0, 0, 1, 1],
        }
    )
    table = curve(pd.concat([lm, emb_rows(emb, ["co_training", "self_training"], ["de", "es"])]))
    cell = table.set_index(["variant", "view", "iteration"])
    # f_lm round 0: seeds (0.5 + 0.7) / 2 = 0.6 and 0.6 -> 0.6, sd 0; round 1: 0.7 and 0.7
    assert cell.loc[("co_training", "lm", 0), "mean"] == pytest.approx(0.6)
    assert cell.loc[("co_training", "lm", 1), "mean"] == pytest.approx(0.7)
    assert cell.loc[("co_training", "lm", 1), "std"] == pytest.approx(0.0)
    # f_emb round 0 (English left out): de 1/2, es 1/1 -> 0.75, for both variants; round 1: de 2/2
    assert cell.loc[("self_training", "emb", 0), "mean"] == pytest.approx(0.75)
    assert cell.loc[("co_training", "emb", 1), "mean"] == pytest.approx(1.0)
    plot(table, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 5000
    assert "| co_training   | lm     | 60.00 ± 0.00 | 70.00 ± 0.00 |" in markdown(table, pd.DataFrame())


# ------------------------------------------------------------------------------- tagging


def test_sentence_confidence_is_the_min_or_mean_of_the_words():
    from pipeline_steps.methods.co_training import sentence_confidence

    assert sentence_confidence([0.9, 0.6, 0.99]) == pytest.approx(0.6)
    assert sentence_confidence([0.9, 0.6, float("nan")], "mean") == pytest.approx(0.75)  # a cut word
    assert sentence_confidence([float("nan")]) == 0.0
    with pytest.raises(ConfigError, match="confidence"):
        sentence_confidence([0.5], "max")


def test_tagging_items_round_trip_through_the_state_text_form():
    from pipeline_steps.cotrain import as_items, from_items

    sentences = pd.DataFrame(
        {
            "id": ["s0", "s1"],
            "lang": ["de", "de"],
            "tokens": [["Angela", "Merkel", "kam", "."], ["Berlin"]],
            "tags": [["B-PER", "I-PER", "O", "O"], None],
        }
    )
    items = as_items(sentences, "tagging")
    assert list(items["text_a"]) == ["Angela Merkel kam .", "Berlin"]
    assert items["label"][0] == "B-PER I-PER O O" and pd.isna(items["label"][1])
    back = from_items(items.iloc[:1], "tagging")
    assert back["tokens"][0] == sentences["tokens"][0] and back["tags"][0] == sentences["tags"][0]
    bad = sentences.assign(tokens=[["New York", "x", "y", "z"], ["a"]])
    with pytest.raises(ArtifactError, match="whitespace"):
        as_items(bad, "tagging", "pool.parquet")


def test_tag_probabilities_belong_to_the_predicted_tags_and_word_vectors_to_first_subwords(tmp_path):
    from pipeline_steps.models.token_classification import encode, load_model, load_tokenizer, predict_tags

    tiny = toy_tiny_model(tmp_path)
    tok = load_tokenizer(tiny)
    tagset = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    model = load_model(tiny, tagset, seed=0)
    sents = [list(t) for t in toy_sentences("de", 5, seed=3)["tokens"]]
    enc = encode(tok, sents, None, None, 12)  # short: the last words of long sentences are cut
    tags, probs = predict_tags(model, enc, [len(s) for s in sents], 2, tok.pad_token_id, with_probs=True)
    assert tags == predict_tags(model, enc, [len(s) for s in sents], 2, tok.pad_token_id)
    alone, alone_probs = predict_tags(
        model, enc, [len(s) for s in sents], 1, tok.pad_token_id, with_probs=True
    )
    assert alone == tags  # length-grouped batches: each sentence tagged as it is alone, in input order
    assert all(np.allclose(a, b, atol=1e-5, equal_nan=True) for a, b in zip(alone_probs, probs, strict=True))
    for i, sent in enumerate(sents):
        assert len(probs[i]) == len(sent)
        for w, pos in enumerate(enc.first[i]):
            assert (pos < 0) == (probs[i][w] != probs[i][w])  # NaN exactly where a word was cut
            assert pos < 0 or 1 / len(tagset) <= probs[i][w] <= 1.0
    encoder = HfEncoder(tiny, max_length=12)
    words = encoder.encode_words(sents, batch_size=2)
    with torch.inference_mode():
        ids = torch.tensor([enc.input_ids[0]])
        states = encoder.model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
    for w, pos in enumerate(enc.first[0]):
        expected = states[pos].numpy() if pos >= 0 else np.zeros(states.shape[-1], dtype=np.float32)
        np.testing.assert_allclose(words[0][w], expected, atol=1e-5)
    assert [len(x) for x in words] == [len(s) for s in sents]


# ------------------------------------------------------------------------------- bad input of the steps


def _write(df: pd.DataFrame, path, artifact) -> str:
    from pipeline_steps.io import write_artifact

    path.parent.mkdir(parents=True, exist_ok=True)
    write_artifact(df, path, artifact)
    return str(path)


def _cls_examples(ids, lang: str, split: str, labels) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ids,
            "lang": lang,
            "split": split,
            "text_a": [f"text {i}" for i in ids],
            "text_b": None,
            "label": labels,
            "source": "x.tsv",
            "line": range(1, len(ids) + 1),
        }
    )


def _selection_inputs(tmp_path, pool_ids, train_labels, lm_ids, lm_preds):
    """A selection round's input files: a German pool, English D, f_lm's predictions of ``lm_ids``
    (confidence 0.99) and f_emb's of the whole pool ("neg", 0.95)."""
    from pipeline_steps.schemas import CLS_EXAMPLES, EMB_PREDICTIONS, POOL_PREDICTIONS

    pool = _cls_examples(pool_ids, "de", "unlabelled", [None] * len(pool_ids))
    train_ids = [f"t{i}" for i in range(len(train_labels))]
    lm = pd.DataFrame({"id": lm_ids, "lang": "de", "pred": lm_preds, "score": 0.99})
    emb = pd.DataFrame(
        {"id": pool_ids, "lang": "de", "split": "unlabelled", "gold": None, "pred": "neg", "score": 0.95}
    )
    return {
        "pool": [_write(pool, tmp_path / "pool.parquet", CLS_EXAMPLES)],
        "train": _write(
            _cls_examples(train_ids, "en", "train", train_labels), tmp_path / "train.parquet", CLS_EXAMPLES
        ),
        "state": [],
        "lm": [_write(lm.assign(method="zero_shot", seed=1), tmp_path / "lm.parquet", POOL_PREDICTIONS)],
        "emb": _write(
            emb.assign(variant="base", seed=1, iteration=0, trained_on=3),
            tmp_path / "emb.parquet",
            EMB_PREDICTIONS,
        ),
    }


def _run_selection(inputs, out, pick_fraction: float, selection: str = "uniform") -> None:
    from pipeline_steps.cotrain import select
    from pipeline_steps.runner import StepContext

    params = {"task_kind": "classification", "variant": "co_training", "seed": 1, "threshold": 0.9}
    params |= {"pick_fraction": pick_fraction, "selection": selection}
    select.main(StepContext(input=inputs, output={"state": str(out)}, params=params))


def test_a_selection_round_names_the_predictions_file_that_misses_a_pool_item(tmp_path):
    pool_ids = ["unlabelled-de-000000", "unlabelled-de-000001"]
    inputs = _selection_inputs(tmp_path, pool_ids, LABELS, pool_ids[:1], ["pos"])
    out = tmp_path / "out" / "state.iter1.parquet"
    with pytest.raises(ArtifactError, match="unlabelled-de-000001") as err:
        _run_selection(inputs, out, 1 / 3)
    assert err.value.path == inputs["lm"][0] and err.value.field == "id"
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


@pytest.mark.parametrize(("selection", "n_lm_picks"), [("uniform", 4), ("class_ratio", 1)])
def test_the_selection_step_takes_class_shares_from_the_labelled_data(tmp_path, selection, n_lm_picks):
    from pipeline_steps.io import read_artifact
    from pipeline_steps.schemas import COTRAIN_STATE

    pool_ids = [f"unlabelled-de-{i:06d}" for i in range(6)]
    # D = pos, pos, neg, neu; n_pick = |D| = 4: quotas pos 2, neg 1, neu 1; f_lm predicts only "neg"
    inputs = _selection_inputs(tmp_path, pool_ids, ["pos", "pos", "neg", "neu"], pool_ids, ["neg"] * 6)
    out = tmp_path / "state.iter1.parquet"
    _run_selection(inputs, out, 1.0, selection)
    state = read_artifact(str(out), COTRAIN_STATE)
    assert int(state["lm_picked_in"].notna().sum()) == n_lm_picks
    assert int(state["emb_picked_in"].notna().sum()) == (4 if selection == "uniform" else 1)


def test_f_emb_names_the_example_without_an_embedding(tmp_path):
    from pipeline_steps.cotrain import emb
    from pipeline_steps.runner import StepContext
    from pipeline_steps.schemas import CLS_EXAMPLES, EMBEDDINGS

    train = _write(
        _cls_examples(["t0", "t1", "t2"], "en", "train", LABELS), tmp_path / "train.parquet", CLS_EXAMPLES
    )
    dev = _write(_cls_examples(["d0"], "en", "dev", ["pos"]), tmp_path / "dev.parquet", CLS_EXAMPLES)
    vectors = pd.DataFrame(
        {"id": ["t0", "t1", "t2"], "lang": "en", "vector": [[1.0, 0.0]] * 3, "vector_b": None}
    )
    train_emb = _write(vectors, tmp_path / "train_emb.parquet", EMBEDDINGS)
    dev_emb = _write(vectors.iloc[:0], tmp_path / "dev_emb.parquet", EMBEDDINGS)  # d0 has none
    out = tmp_path / "out" / "emb.iter0.parquet"
    ctx = StepContext(
        input={
            "train": train,
            "dev": dev,
            "train_emb": train_emb,
            "dev_emb": dev_emb,
            "pool": [],
            "test": [],
            "state": [],
        },
        output={"predictions": str(out)},
        params={
            "task_kind": "classification",
            "labels": LABELS,
            "scheme": "bio",
            "confidence": "min",
            "seed": 0,
            "variant": "base",
            "iteration": 0,
            "head": {"epochs": 1, "lr": 0.01, "batch_size": 2, "weight_decay": 0.0},
        },
    )
    with pytest.raises(ArtifactError, match="'d0'") as err:
        emb.main(ctx)
    assert err.value.path == dev_emb and err.value.field == "id"  # the dev set's embeddings file
    assert not out.exists()


# ------------------------------------------------------------------------- a fine-tuned f_emb (option)


def test_a_fine_tuned_f_emb_is_trained_and_predicts_exactly_as_f_lm_would(tmp_path):
    """``cotrain.embedding.fine_tune``: f_emb = the embedding encoder fine-tuned like f_lm. From the same
    encoder, data and schedule it must give the pool exactly the tags and confidences that the finetune
    + predict_pool steps give, and it must have learnt (entities found on the test set)."""
    from _helpers_model import FINETUNE_SETTINGS, write_sentences

    from pipeline_steps import finetune
    from pipeline_steps.cotrain import emb, pool
    from pipeline_steps.evaluate import f1 as entity_f1
    from pipeline_steps.io import read_artifact
    from pipeline_steps.runner import StepContext
    from pipeline_steps.schemas import EMB_PREDICTIONS, POOL_PREDICTIONS

    tiny = toy_tiny_model(tmp_path)
    train = write_sentences(toy_sentences("en", 40), tmp_path / "train.parquet")
    dev = write_sentences(toy_sentences("en", 10, split="dev"), tmp_path / "dev.parquet")
    unlabelled = toy_sentences("de", 8, split="unlabelled").assign(tags=None)
    pool_path = write_sentences(unlabelled, tmp_path / "pool.parquet")
    test = write_sentences(toy_sentences("de", 8, split="test"), tmp_path / "test.parquet")
    labels = ["PER", "LOC", "ORG"]
    ft = {
        **FINETUNE_SETTINGS,
        "task": "ner",
        "labels": labels,
        "scheme": "bio",
        "model_name_or_path": tiny,
        "method_params": {},
        "lr": 5e-3,
        "epochs": 5,
        "max_steps": 30,
        "eval_steps": 10,
        "checkpoint_steps": 10,
    }
    out = tmp_path / "emb" / "emb.iter0.parquet"
    emb.main(
        StepContext(
            input={
                "train": train,
                "dev": dev,
                "pool": [pool_path],
                "test": [test],
                "state": [],
                "encoder": [],
            },
            output={"predictions": str(out)},
            params={
                "task_kind": "tagging",
                "labels": labels,
                "scheme": "bio",
                "confidence": "min",
                "seed": 13,
                "variant": "base",
                "iteration": 0,
                "fine_tune": True,
                "finetune": ft,
                "predict_batch_size": 4,
            },
        )
    )
    got = read_artifact(out, EMB_PREDICTIONS)
    assert not out.with_suffix(".checkpoints").exists()  # keep_checkpoints: false
    assert list(got["split"].value_counts().sort_index().items()) == [("test", 8), ("unlabelled", 8)]

    lm = tmp_path / "lm"
    finetune.main(
        StepContext(
            input={"train": train, "dev": dev, "model": []},
            output={"model": str(lm / "model"), "log": str(lm / "log.parquet")},
            params={**ft, "method": "zero_shot", "seed": 13},
        )
    )
    pool_out = tmp_path / "lm_pool.parquet"
    pool.main(
        StepContext(
            input={"model": str(lm / "model"), "examples": pool_path},
            output={"predictions": str(pool_out)},
            params={
                **ft,
                "method": "zero_shot",
                "seed": 13,
                "batch_size": 4,
                "confidence": "min",
                "device": "cpu",
            },
        )
    )
    lm_pool = read_artifact(pool_out, POOL_PREDICTIONS).set_index("id")
    emb_pool = got[got["split"] == "unlabelled"].set_index("id")
    assert emb_pool["pred"].to_dict() == lm_pool["pred"].to_dict()
    assert np.allclose(emb_pool["score"], lm_pool.loc[emb_pool.index, "score"], atol=1e-6)
    tested = got[got["split"] == "test"]
    gold = [g.split(" ") for g in tested["gold"]]
    assert entity_f1(gold, [p.split(" ") for p in tested["pred"]]) > 0.5
