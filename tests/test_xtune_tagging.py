"""xTune for a tagger (pipeline_steps/methods/xtune_tagging.py). Stage 1: encoding sub-word-sampled views,
the loss L_task + lambda1 * R1 on first sub-words (paper 003 Sec. 3.1.1, 3.1.3, 3.3.3) and its recipe.
Stage 2: + lambda2 * R2 against a frozen teacher on the view rows (Sec. 3.1.2-3.1.3) and its recipe."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from _helpers_model import toy_sentences, toy_tiny_model, train_config

from pipeline_steps.augment.subword_sampling import UnigramSampler
from pipeline_steps.augment.views import augmented_views, code_switcher, subword_sampler
from pipeline_steps.errors import ConfigError
from pipeline_steps.losses.symmetric_kl import symmetric_kl
from pipeline_steps.methods.supervised import sentence_ce
from pipeline_steps.methods.xtune_tagging import (
    LAMBDA1,
    LAMBDA2,
    ExampleConsistencyTagging,
    ModelConsistencyTagging,
    align_views,
    consistency_loss,
    encode_pieces,
    encode_view,
    paired_masks,
    stage2_loss,
)
from pipeline_steps.models.token_classification import IGNORE, Encoded, encode, load_model, load_tokenizer
from pipeline_steps.tags import label_set
from pipeline_steps.train import train

TAGSET = label_set(["PER", "ORG", "LOC"])
LABEL2ID = {t: i for i, t in enumerate(TAGSET)}
ODD_WORDS = [["García", "wohnt", "in", "Zürich", "ÆØÅ", "€", "Telefónica", "supercalifragilistic"]]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return toy_tiny_model(tmp_path_factory.mktemp("xtune"))


@pytest.fixture(scope="module")
def tok(tiny_dir):
    return load_tokenizer(tiny_dir)


def own_pieces(tok, words):
    """The tokenizer's own segmentation of each word (tokenised on its own, as xTune does)."""
    return [tok.convert_ids_to_tokens(tok(w, add_special_tokens=False)["input_ids"]) for w in words]


def sentences_and_tags(n=12):
    df = toy_sentences("en", n, seed=5)
    sents = [list(t) for t in df["tokens"]] + ODD_WORDS
    return sents, [list(t) for t in df["tags"]] + [["O"] * len(ODD_WORDS[0])]


def vocab_piece(tok, word):
    """A piece of the vocabulary (the first piece of ``word``)."""
    return own_pieces(tok, [word])[0][0]


# ------------------------------------------------------------------------------------------ encoding


@pytest.mark.parametrize("max_length", [64, 12, 7, 3])
def test_encode_pieces_equals_encode_for_the_tokenizers_own_segmentation(tok, max_length):
    sents, tags = sentences_and_tags()
    pieces = [own_pieces(tok, s) for s in sents]
    assert any(len(p) > 1 for s in pieces for p in s)  # some word has several pieces
    expected = encode(tok, sents, tags, LABEL2ID, max_length)
    assert encode_pieces(tok, pieces, tags, LABEL2ID, max_length) == expected
    assert encode_pieces(tok, pieces, None, None, max_length) == encode(tok, sents, None, None, max_length)
    if max_length < 64:
        assert sum(expected.n_truncated) > 0  # truncation really happened


def test_labels_sit_on_first_pieces_and_unknown_pieces_become_unk(tok):
    a, b, c = vocab_piece(tok, "Smith"), vocab_piece(tok, "in"), vocab_piece(tok, "Berlin")
    pieces = [[[a, b], ["@@not-a-piece@@"], [], [c, a, b]]]
    tags = [["B-PER", "O", "O", "B-LOC"]]
    enc = encode_pieces(tok, pieces, tags, LABEL2ID, 64)
    ids = enc.input_ids[0]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert ids[1:-1] == tok.convert_tokens_to_ids([a, b]) + [tok.unk_token_id] + tok.convert_tokens_to_ids(
        [c, a, b]
    )
    assert tok.unk_token_id not in tok.convert_tokens_to_ids([a, b, c])
    assert enc.first == [[1, 3, -1, 4]]
    assert (
        enc.labels[0] == [IGNORE, LABEL2ID["B-PER"], IGNORE, LABEL2ID["O"], LABEL2ID["B-LOC"]] + [IGNORE] * 3
    )
    assert enc.n_empty == [1] and enc.n_truncated == [0]


def test_truncation_keeps_a_cut_words_first_piece_and_drops_later_words(tok):
    a, b = vocab_piece(tok, "Smith"), vocab_piece(tok, "in")
    pieces = [[[a, b], [a, b, a], [b, a]]]  # 7 pieces, 4 fit in max_length 6 (<s> ... </s>)
    enc = encode_pieces(tok, pieces, [["B-PER", "I-PER", "O"]], LABEL2ID, 6)
    assert len(enc.input_ids[0]) == 6 and enc.input_ids[0][-1] == tok.eos_token_id
    assert enc.first == [[1, 3, -1]] and enc.n_truncated == [1] and enc.n_empty == [0]
    assert enc.labels[0] == [IGNORE, LABEL2ID["B-PER"], IGNORE, LABEL2ID["I-PER"], IGNORE, IGNORE]
    with pytest.raises(ValueError, match="max_length"):
        encode_pieces(tok, pieces, None, None, 2)


def augmented_frame(tok, sents, tags, with_pieces):
    """AUGMENTED-like rows: pieces = the tokenizer's own segmentation where ``with_pieces[i]``."""
    return pd.DataFrame(
        {
            "src_id": [f"s{i}" for i in range(len(sents))],
            "view": 0,
            "tokens": sents,
            "tags": tags,
            "pieces": [own_pieces(tok, s) if p else None for s, p in zip(sents, with_pieces, strict=True)],
        }
    )


def test_encode_view_uses_pieces_when_set_and_tokens_otherwise(tok):
    sents, tags = sentences_and_tags(6)
    pieces = [own_pieces(tok, s) for s in sents]
    pieces[0] = [[*p[:1], "@@not-a-piece@@"] for p in pieces[0]]  # differs from encode(tokens)
    frame = augmented_frame(tok, sents, tags, [True, False] * (len(sents) // 2) + [True])
    frame.at[0, "pieces"] = pieces[0]
    enc = encode_view(tok, frame, LABEL2ID, 20)
    for i in range(len(sents)):
        if frame["pieces"][i] is None:
            ref = encode(tok, [sents[i]], [tags[i]], LABEL2ID, 20)
        else:
            ref = encode_pieces(tok, [frame["pieces"][i]], [tags[i]], LABEL2ID, 20)
        assert enc.subset([i]) == ref
    assert tok.unk_token_id in enc.input_ids[0]
    unlabelled = encode_view(tok, frame.assign(tags=None), LABEL2ID, 20)
    assert unlabelled.labels is None and unlabelled.input_ids == enc.input_ids


# ------------------------------------------------------------------------------------------------ loss


def hand_batch(seed=0, classes=5):
    """Logits and labels of two views of 2 sentences, tokenised differently (labels on first sub-words)."""
    gen = torch.Generator().manual_seed(seed)
    o_lab = torch.tensor([[IGNORE, 1, IGNORE, 2, 0, IGNORE], [IGNORE, 3, 0, IGNORE, IGNORE, IGNORE]])
    a_lab = torch.tensor([[IGNORE, 1, 2, IGNORE, IGNORE, 0, IGNORE, IGNORE], [IGNORE, IGNORE] + [IGNORE] * 6])
    a_lab[1, 2], a_lab[1, 4] = 3, 0
    o = torch.randn(2, 6, classes, generator=gen)
    a = torch.randn(2, 8, classes, generator=gen)
    return o, o_lab, a, a_lab


def r1_by_hand(p_rows, q_rows):
    """Eq. 1 with the official reduction: sum of KL(P||Q) + KL(Q||P) over pairs / (pairs x classes)."""
    lp, lq = p_rows.log_softmax(-1), q_rows.log_softmax(-1)
    total = (lp.exp() * (lp - lq)).sum() + (lq.exp() * (lq - lp)).sum()
    return total / p_rows.numel()


def test_loss_is_task_plus_lambda1_times_symmetric_kl_on_first_subwords():
    o, o_lab, a, a_lab = hand_batch()
    out = consistency_loss(o, o_lab, a, a_lab, 2.5)
    pairs_o = torch.stack([o[0, 1], o[0, 3], o[0, 4], o[1, 1], o[1, 2]])
    pairs_a = torch.stack([a[0, 1], a[0, 2], a[0, 5], a[1, 2], a[1, 4]])
    assert torch.allclose(out.r1, r1_by_hand(pairs_o, pairs_a))
    direct = symmetric_kl(o, a, o_lab != IGNORE, q_mask=a_lab != IGNORE)
    assert torch.allclose(out.loss, sentence_ce(o, o_lab) + 2.5 * direct)
    assert torch.equal(out.task, sentence_ce(o, o_lab))
    with_view = consistency_loss(o, o_lab, a, a_lab, 2.5, task_loss_on_view=True)
    assert torch.allclose(with_view.loss, out.loss + sentence_ce(a, a_lab))
    assert torch.allclose(with_view.task, sentence_ce(o, o_lab) + sentence_ce(a, a_lab))
    plain = consistency_loss(o, o_lab, a, a_lab, 0.0)
    assert plain.r1 > 0 and torch.equal(plain.loss, sentence_ce(o, o_lab))
    assert consistency_loss(o, o_lab, a, a_lab).loss == pytest.approx(
        float(sentence_ce(o, o_lab) + LAMBDA1 * direct), rel=1e-6
    )


@pytest.mark.parametrize("side", ["orig", "aug"])
def test_r1_reads_only_first_subword_positions(side):
    o, o_lab, a, a_lab = hand_batch()
    base = consistency_loss(o, o_lab, a, a_lab, 1.0)
    logits, labels = (o, o_lab) if side == "orig" else (a, a_lab)
    noise = 10 * torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))
    off = (labels == IGNORE).unsqueeze(-1)
    moved = logits + noise * off  # every non-first sub-word (and padding) changed
    args = (moved, o_lab, a, a_lab) if side == "orig" else (o, o_lab, moved, a_lab)
    same = consistency_loss(*args, 1.0)
    assert torch.equal(same.r1, base.r1) and torch.equal(same.loss, base.loss)
    for pos in (labels != IGNORE).nonzero().tolist():  # each first sub-word matters
        hit = logits.clone()
        hit[pos[0], pos[1]] += noise[pos[0], pos[1]]
        args = (hit, o_lab, a, a_lab) if side == "orig" else (o, o_lab, hit, a_lab)
        assert not torch.isclose(consistency_loss(*args, 1.0).r1, base.r1)


def test_identical_views_give_zero_r1_and_the_supervised_loss():
    o, o_lab, _, _ = hand_batch()
    out = consistency_loss(o, o_lab, o.clone(), o_lab.clone(), LAMBDA1)
    assert float(out.r1) == 0.0 and torch.equal(out.loss, sentence_ce(o, o_lab))


def test_words_cut_in_one_view_only_are_not_paired():
    o, o_lab, a, a_lab = hand_batch()
    a_lab[0, 5] = IGNORE  # the view lost sentence 0's third word to truncation
    out = consistency_loss(o, o_lab, a, a_lab, 1.0)
    pairs_o = torch.stack([o[0, 1], o[0, 3], o[1, 1], o[1, 2]])
    pairs_a = torch.stack([a[0, 1], a[0, 2], a[1, 2], a[1, 4]])
    assert torch.allclose(out.r1, r1_by_hand(pairs_o, pairs_a))
    moved = o.clone()
    moved[0, 4, 0] += 5.0  # the original's unpaired third word: only the task loss sees it
    again = consistency_loss(moved, o_lab, a, a_lab, 1.0)
    assert torch.equal(again.r1, out.r1) and not torch.equal(again.task, out.task)


def test_paired_masks_skip_words_either_view_lacks():
    a = Encoded([[0, 5, 6, 7, 8, 2]], None, [[1, 2, -1, 4]])  # word 2 has no sub-word here
    b = Encoded([[0, 5, 6, 7, 2]], None, [[1, 2, 3, -1]])  # word 3 was cut here
    ma, mb = paired_masks(a, b, [0], 7, 5)
    assert ma.nonzero()[:, 1].tolist() == [1, 2] and mb.nonzero()[:, 1].tolist() == [1, 2]


def test_stop_gradient_and_bad_mask_arguments():
    o, o_lab, a, a_lab = hand_batch()
    grads = []
    for sg in (True, False):
        leaf = o.clone().requires_grad_(True)
        consistency_loss(leaf, o_lab, a, a_lab, 1.0, stop_gradient=sg).loss.backward()
        grads.append(leaf.grad)
    assert not torch.allclose(grads[0], grads[1])
    with pytest.raises(ValueError, match="both"):
        consistency_loss(o, o_lab, a, a_lab, orig_mask=o_lab != IGNORE)
    with pytest.raises(ValueError, match="labels"):
        consistency_loss(o, o_lab, a, None, task_loss_on_view=True)


# ---------------------------------------------------------------------------------------------- recipe


def train_frame(n=16):
    return toy_sentences("en", n, seed=2)


def subword_views(tiny_dir, frame, views=2, ratio=0.5):
    sampler = UnigramSampler.load(tiny_dir, alpha=0.3, nbest=-1)
    return augmented_views(frame, subword_sampler(sampler, ratio), "subword", 3, views)


def test_align_views_pairs_by_src_id(tiny_dir):
    frame = train_frame(8)
    aug = subword_views(tiny_dir, frame)
    shuffled = aug.sample(frac=1.0, random_state=0)
    views = align_views(frame, shuffled)
    assert len(views) == 2
    for v, rows in enumerate(views):
        assert list(rows["src_id"]) == list(frame["id"]) and set(rows["view"]) == {v}
    with pytest.raises(ValueError, match="rows"):
        align_views(frame, aug.iloc[1:])
    bad = aug.copy()
    bad.at[0, "tokens"] = list(bad.at[0, "tokens"]) + ["extra"]
    with pytest.raises(ValueError, match="words"):
        align_views(frame, bad)


def test_recipe_batches_pair_views_and_switch_view_per_epoch(tiny_dir, tok):
    frame = train_frame(8)
    aug = subword_views(tiny_dir, frame, ratio=1.0)
    recipe = ExampleConsistencyTagging.from_frames(frame, aug, tok, LABEL2ID, 64, 3, seed=1)
    views = align_views(frame, aug)
    assert recipe.views[0] != recipe.views[1]
    for epoch in (0, 1, 2):
        batches = list(recipe.batches(epoch))
        assert len(batches) == recipe.num_batches(epoch) == 3 and recipe.view_index == epoch % 2
        rows = [5, 0, 3]
        batch = recipe.collate(rows)
        view = views[epoch % 2]
        for r, i in enumerate(rows):
            width = len(recipe.views[epoch % 2].input_ids[i])
            pieces = [p for w in view["pieces"][i] for p in w]
            assert batch["view"]["input_ids"][r, 1 : width - 1].tolist() == tok.convert_tokens_to_ids(pieces)
            assert batch["view"]["attention_mask"][r].sum() == width
            assert (
                batch["orig"]["input_ids"][r, : len(recipe.orig.input_ids[i])].tolist()
                == (recipe.orig.input_ids[i])
            )
        assert torch.equal(batch["orig_mask"], batch["orig"]["labels"] != IGNORE)
        assert torch.equal(batch["view_mask"], batch["view"]["labels"] != IGNORE)
        assert batch["orig_mask"].sum() == sum(len(t) for t in frame["tokens"].iloc[rows])


def test_recipe_with_identical_views_has_zero_r1(tiny_dir, tok):
    frame = train_frame(6)
    own = pd.DataFrame(
        {
            "src_id": frame["id"],
            "view": 0,
            "tokens": frame["tokens"],
            "tags": frame["tags"],
            "pieces": [own_pieces(tok, s) for s in frame["tokens"]],  # the original's own segmentation
        }
    )
    recipe = ExampleConsistencyTagging.from_frames(frame, own, tok, LABEL2ID, 64, 6, seed=0)
    assert recipe.views[0] == recipe.orig
    model = load_model(tiny_dir, TAGSET, seed=0).eval()  # no dropout: both passes see the same net
    batch = next(iter(recipe.batches(0)))
    loss = recipe.loss(model, batch)
    logits = model(
        input_ids=batch["orig"]["input_ids"], attention_mask=batch["orig"]["attention_mask"]
    ).logits
    assert recipe.last["r1"] == 0.0
    assert torch.allclose(loss, sentence_ce(logits, batch["orig"]["labels"]))
    assert recipe.last["task"] == pytest.approx(float(loss.detach()))


def grads_of(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize(
    "options",
    [{}, {"lambda1": 2.0, "stop_gradient": False, "task_loss_on_view": True, "reduction": "batchmean"}],
)
def test_recipe_loss_is_consistency_loss_with_its_options(tiny_dir, tok, options):
    frame = train_frame(6)
    aug = subword_views(tiny_dir, frame, views=1, ratio=1.0)
    recipe = ExampleConsistencyTagging.from_frames(frame, aug, tok, LABEL2ID, 64, 6, seed=0, **options)
    model = load_model(tiny_dir, TAGSET, seed=0).eval()
    batch = next(iter(recipe.batches(0)))
    got = recipe.loss(model, batch)
    got_grads = grads_of(model, got)
    logits = {
        k: model(input_ids=batch[k]["input_ids"], attention_mask=batch[k]["attention_mask"]).logits
        for k in ("orig", "view")
    }
    direct = consistency_loss(
        logits["orig"],
        batch["orig"]["labels"],
        logits["view"],
        batch["view"]["labels"],
        options.get("lambda1", LAMBDA1),
        orig_mask=batch["orig_mask"],
        aug_mask=batch["view_mask"],
        **{k: v for k, v in options.items() if k != "lambda1"},
    )
    assert recipe.last == pytest.approx(
        {"task": float(direct.task.detach()), "r1": float(direct.r1.detach())}
    )
    assert recipe.last["r1"] > 0 and torch.allclose(got, direct.loss)
    assert torch.allclose(got_grads, grads_of(model, direct.loss), atol=1e-7)
    if options:  # the gradient depends on the options (stop-gradient ablation, view loss, weight)
        plain = ExampleConsistencyTagging.from_frames(frame, aug, tok, LABEL2ID, 64, 6, seed=0)
        assert not torch.allclose(got_grads, grads_of(model, plain.loss(model, batch)))


def test_recipe_rejects_bad_settings(tiny_dir, tok):
    frame = train_frame(4)
    aug = augmented_views(frame, code_switcher({"de": {"lives": ["wohnt"]}}, 1.0), "code_switch", 0, 1)
    for bad in ({"lambda1": -1.0}, {"lambda1": float("nan")}, {"reduction": "sum"}):
        with pytest.raises(ConfigError):
            ExampleConsistencyTagging.from_frames(frame, aug, tok, LABEL2ID, 64, 2, 0, **bad)
    with pytest.raises(ValueError, match="labels"):
        ExampleConsistencyTagging.from_frames(
            frame, aug.assign(tags=None), tok, LABEL2ID, 64, 2, 0, task_loss_on_view=True
        )


def run(tiny_dir, tok, seed=0):
    frame = train_frame(16)
    recipe = ExampleConsistencyTagging.from_frames(
        frame, subword_views(tiny_dir, frame), tok, LABEL2ID, 64, 4, seed=seed
    )
    model = load_model(tiny_dir, TAGSET, seed=seed)
    seen = []
    config = train_config(seed=seed, lr=5e-3, epochs=3, warmup_ratio=0.0, device="cpu")
    result = train(
        model, recipe, config, on_step=lambda step, row: seen.append((recipe.view_index, recipe.last))
    )
    return result, model, seen


def test_short_training_run_decreases_the_loss_and_is_deterministic(tiny_dir, tok):
    result, model, seen = run(tiny_dir, tok)
    losses = result.log["loss"].tolist()
    assert result.steps == 12 and [v for v, _ in seen] == [0] * 4 + [1] * 4 + [0] * 4
    assert sum(losses[-3:]) < sum(losses[:3])
    assert all(
        last["task"] + LAMBDA1 * last["r1"] == pytest.approx(loss)
        for (_, last), loss in zip(seen, losses, strict=True)
    )
    again, model2, _ = run(tiny_dir, tok)
    assert again.log["loss"].tolist() == losses
    for (name, p), q in zip(model.state_dict().items(), model2.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


# -------------------------------------------------------------------------------------- stage 2: loss


def stacked_batch(seed=0, classes=5):
    """``hand_batch``'s originals (rows 0-1) and views (rows 2-3) stacked as stage 2 sees them, with a
    teacher's logits on all 4 rows."""
    o, o_lab, a, a_lab = hand_batch(seed, classes)
    logits = torch.cat([F.pad(o, (0, 0, 0, 2)), a])
    labels = torch.cat([F.pad(o_lab, (0, 2), value=IGNORE), a_lab])
    is_view = torch.tensor([False, False, True, True])
    first = labels != IGNORE
    r1 = (first & ~is_view[:, None], first & is_view[:, None])
    teacher = torch.randn(logits.shape, generator=torch.Generator().manual_seed(seed + 100))
    return logits, labels, teacher, is_view, r1, first


VIEW_POS = [(2, 1), (2, 2), (2, 5), (3, 2), (3, 4)]  # the views' first sub-words in stacked_batch


def r2_by_hand(student_rows, teacher_rows, hard):
    """Eq. 2 as the official code computes it: CE on the teacher's argmax (mean over positions), or the
    summed KL(teacher || student) / (positions x classes)."""
    if hard:
        return F.cross_entropy(student_rows, teacher_rows.argmax(-1))
    lt, ls = teacher_rows.log_softmax(-1), student_rows.log_softmax(-1)
    return (lt.exp() * (lt - ls)).sum() / student_rows.numel()


@pytest.mark.parametrize("hard", [True, False])
def test_stage2_loss_is_task_plus_weighted_r1_and_r2(hard):
    logits, labels, teacher, is_view, r1, first = stacked_batch()
    o, o_lab, a, a_lab = hand_batch()
    out = stage2_loss(logits, labels, teacher, is_view, r1, first, lambda1=2.5, lambda2=0.7, hard=hard)
    task = sentence_ce(o, o_lab) + sentence_ce(a, a_lab)
    pairs_o = torch.stack([o[0, 1], o[0, 3], o[0, 4], o[1, 1], o[1, 2]])
    pairs_a = torch.stack([a[0, 1], a[0, 2], a[0, 5], a[1, 2], a[1, 4]])
    r2 = r2_by_hand(
        torch.stack([logits[p] for p in VIEW_POS]), torch.stack([teacher[p] for p in VIEW_POS]), hard
    )
    assert torch.allclose(out.task, task) and torch.allclose(out.r1, r1_by_hand(pairs_o, pairs_a))
    assert torch.allclose(out.r2, r2) and out.r2 > 0
    assert torch.allclose(out.loss, task + 2.5 * out.r1 + 0.7 * r2)
    other = stage2_loss(logits, labels, teacher, is_view, r1, first, hard=not hard)
    assert not torch.isclose(other.r2, out.r2)  # hard and soft R2 differ
    default = stage2_loss(logits, labels, teacher, is_view, r1, first)
    assert torch.allclose(
        default.r2,
        r2_by_hand(
            torch.stack([logits[p] for p in VIEW_POS]), torch.stack([teacher[p] for p in VIEW_POS]), True
        ),
    )
    assert torch.allclose(default.loss, default.task + LAMBDA1 * default.r1 + LAMBDA2 * default.r2)


def test_stage2_ablations_drop_exactly_their_part():
    logits, labels, teacher, is_view, r1, first = stacked_batch()
    full = stage2_loss(logits, labels, teacher, is_view, r1, first, lambda1=2.5, lambda2=0.7)
    no_r1 = stage2_loss(logits, labels, teacher, is_view, r1, first, lambda1=2.5, lambda2=0.7, use_r1=False)
    no_r2 = stage2_loss(logits, labels, None, is_view, r1, first, lambda1=2.5, lambda2=0.7, use_r2=False)
    assert full.r1 > 0 and full.r2 > 0
    assert float(no_r1.r1) == 0.0 and torch.equal(no_r1.r2, full.r2) and torch.equal(no_r1.task, full.task)
    assert torch.allclose(no_r1.loss, full.task + 0.7 * full.r2)
    assert float(no_r2.r2) == 0.0 and torch.equal(no_r2.r1, full.r1) and torch.equal(no_r2.task, full.task)
    assert torch.allclose(no_r2.loss, full.task + 2.5 * full.r1)
    with pytest.raises(ValueError, match="teacher"):
        stage2_loss(logits, labels, None, is_view, r1, first)


@pytest.mark.parametrize("hard", [True, False])
def test_r2_reads_the_teacher_on_view_rows_only(hard):
    logits, labels, teacher, is_view, r1, first = stacked_batch()
    base = stage2_loss(logits, labels, teacher, is_view, r1, first, hard=hard)
    moved = teacher.clone()
    moved[:2] = 50 * torch.randn(moved[:2].shape, generator=torch.Generator().manual_seed(3))
    same = stage2_loss(logits, labels, moved, is_view, r1, first, hard=hard)
    assert torch.equal(same.loss, base.loss) and torch.equal(same.r2, base.r2)
    for row, pos in VIEW_POS:  # every first sub-word of a view row does matter
        hit = teacher.clone()
        hit[row, pos] = -hit[row, pos] * 20
        assert not torch.isclose(stage2_loss(logits, labels, hit, is_view, r1, first, hard=hard).r2, base.r2)


def test_untagged_view_rows_add_only_r2():
    logits, labels, teacher, is_view, r1, first = stacked_batch()
    base = stage2_loss(logits, labels, teacher, is_view, r1, first, hard=True)
    gen = torch.Generator().manual_seed(7)
    extra = torch.randn(2, *logits.shape[1:], generator=gen)  # two MT-like rows: no tags, no word pairs
    extra_teacher = torch.randn(extra.shape, generator=gen)
    extra_r2 = torch.zeros(2, logits.shape[1], dtype=torch.bool)
    extra_r2[0, [1, 2, 4]] = extra_r2[1, [1, 3]] = True  # their words' first sub-words
    none = torch.zeros_like(extra_r2)
    out = stage2_loss(
        torch.cat([logits, extra]),
        torch.cat([labels, torch.full(extra_r2.shape, IGNORE)]),
        torch.cat([teacher, extra_teacher]),
        torch.cat([is_view, torch.tensor([True, True])]),
        (torch.cat([r1[0], none]), torch.cat([r1[1], none])),
        torch.cat([first, extra_r2]),
        hard=True,
    )
    assert torch.equal(out.task, base.task) and torch.equal(out.r1, base.r1)
    # R2 is the mean CE over the 5 tagged-view positions and the 5 new ones
    new = F.cross_entropy(extra[extra_r2], extra_teacher[extra_r2].argmax(-1), reduction="sum")
    assert torch.allclose(out.r2, (5 * base.r2 + new) / 10) and not torch.isclose(out.r2, base.r2)


# ------------------------------------------------------------------------------------ stage 2: recipe


def teacher_model(tiny_dir):
    return load_model(tiny_dir, TAGSET, seed=1)  # stands in for the stage-1 checkpoint (another head)


def mt_frame(frame, view=1):
    """AUGMENTED-like machine translations: other word counts, no tags, no pieces."""
    tokens = [["Hola", *list(t[: max(1, len(t) - 2)])] for t in frame["tokens"]]
    return pd.DataFrame({"src_id": frame["id"], "view": view, "tokens": tokens, "tags": None, "pieces": None})


def test_stage2_batches_stack_originals_and_views(tiny_dir, tok):
    frame = train_frame(6)
    aug = pd.concat([subword_views(tiny_dir, frame, views=1, ratio=1.0), mt_frame(frame)], ignore_index=True)
    recipe = ModelConsistencyTagging.from_frames(frame, aug, teacher_model(tiny_dir), tok, LABEL2ID, 64, 3, 0)
    assert recipe.views[0].labels is not None and recipe.views[1].labels is None
    rows = [4, 1, 2]
    for epoch in (0, 1):
        list(recipe.batches(epoch))
        view = recipe.views[epoch]
        batch = recipe.collate(rows)
        assert batch["is_view"].tolist() == [False] * 3 + [True] * 3
        for r, i in enumerate(rows):
            assert batch["input_ids"][r, : len(recipe.orig.input_ids[i])].tolist() == recipe.orig.input_ids[i]
            assert batch["input_ids"][3 + r, : len(view.input_ids[i])].tolist() == view.input_ids[i]
            assert batch["attention_mask"][3 + r].sum() == len(view.input_ids[i])
            assert batch["r2_mask"][3 + r].sum() == len(view.first[i])  # every word of the view
        n_words = sum(len(t) for t in frame["tokens"].iloc[rows])
        if epoch == 0:  # tagged view: labels, R1 pairs word k with word k
            assert torch.equal(batch["r1_orig"][:3], batch["labels"][:3] != IGNORE)
            assert torch.equal(batch["r1_view"][3:], batch["labels"][3:] != IGNORE)
            assert batch["r1_view"].sum() == n_words
        else:  # MT: no labels, no R1 pairs, R2 on its own words
            assert (batch["labels"][3:] == IGNORE).all() and not batch["r1_view"].any()
            assert not batch["r1_orig"].any()
            assert batch["r2_mask"][3:].sum() == sum(len(t) for t in mt_frame(frame)["tokens"].iloc[rows])


@pytest.mark.parametrize("options", [{}, {"hard": False, "lambda2": 0.3, "use_r1": False}])
def test_stage2_recipe_loss_is_stage2_loss_with_the_teachers_logits(tiny_dir, tok, options):
    frame = train_frame(6)
    aug = subword_views(tiny_dir, frame, views=1, ratio=1.0)
    teacher = teacher_model(tiny_dir)
    recipe = ModelConsistencyTagging.from_frames(frame, aug, teacher, tok, LABEL2ID, 64, 6, 0, **options)
    model = load_model(tiny_dir, TAGSET, seed=0).eval()
    batch = next(iter(recipe.batches(0)))
    got = recipe.loss(model, batch)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        t_logits = teacher(input_ids=ids, attention_mask=mask).logits  # the teacher on every row
    direct = stage2_loss(
        model(input_ids=ids, attention_mask=mask).logits,
        batch["labels"],
        t_logits,
        batch["is_view"],
        (batch["r1_orig"], batch["r1_view"]),
        batch["r2_mask"],
        **options,
    )
    assert torch.allclose(got, direct.loss, atol=1e-6) and recipe.last["r2"] > 0
    assert recipe.last == pytest.approx(
        {k: float(getattr(direct, k).detach()) for k in ("task", "r1", "r2")}, abs=1e-6
    )
    assert (recipe.last["r1"] == 0.0) == (options.get("use_r1") is False)


def test_mt_views_contribute_only_r2_in_the_recipe(tiny_dir, tok):
    frame = train_frame(6)
    recipe = ModelConsistencyTagging.from_frames(
        frame, mt_frame(frame, 0), teacher_model(tiny_dir), tok, LABEL2ID, 64, 6, 0
    )
    model = load_model(tiny_dir, TAGSET, seed=0).eval()
    batch = next(iter(recipe.batches(0)))
    loss = recipe.loss(model, batch)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert recipe.last["r1"] == 0.0 and recipe.last["r2"] > 0
    assert recipe.last["task"] == pytest.approx(float(sentence_ce(logits[:6], batch["labels"][:6]).detach()))
    assert float(loss.detach()) == pytest.approx(recipe.last["task"] + LAMBDA2 * recipe.last["r2"], rel=1e-6)
    with pytest.raises(ValueError, match="only R2"):
        ModelConsistencyTagging.from_frames(
            frame, mt_frame(frame, 0), None, tok, LABEL2ID, 64, 6, 0, use_r2=False
        )


def test_stage2_recipe_rejects_bad_settings(tiny_dir, tok):
    frame = train_frame(4)
    aug = subword_views(tiny_dir, frame, views=1)
    teacher = teacher_model(tiny_dir)
    for bad in ({"lambda2": -1.0}, {"lambda2": float("nan")}, {"lambda1": -1.0}, {"reduction": "sum"}):
        with pytest.raises(ConfigError):
            ModelConsistencyTagging.from_frames(frame, aug, teacher, tok, LABEL2ID, 64, 2, 0, **bad)
    with pytest.raises(ValueError, match="teacher"):
        ModelConsistencyTagging.from_frames(frame, aug, None, tok, LABEL2ID, 64, 2, 0)
    recipe = ModelConsistencyTagging.from_frames(frame, aug, teacher, tok, LABEL2ID, 64, 2, 0)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    batch = next(iter(recipe.batches(0)))
    with pytest.raises(ValueError, match="separate"):
        recipe.loss(teacher, batch)
    teacher.train()  # switched back to training mode behind the recipe's back: run in eval mode anyway
    recipe.loss(load_model(tiny_dir, TAGSET, seed=0), batch)
    assert not teacher.training
    next(teacher.parameters()).requires_grad_(True)  # unfrozen behind the recipe's back
    with pytest.raises(RuntimeError, match="trainable"):
        recipe.loss(load_model(tiny_dir, TAGSET, seed=0), batch)


def run_stage2(tiny_dir, tok, seed=0):
    frame = train_frame(16)
    aug = pd.concat([subword_views(tiny_dir, frame, views=1), mt_frame(frame)], ignore_index=True)
    teacher = teacher_model(tiny_dir)
    recipe = ModelConsistencyTagging.from_frames(frame, aug, teacher, tok, LABEL2ID, 64, 4, seed=seed)
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    model = load_model(tiny_dir, TAGSET, seed=seed)
    student_before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []
    config = train_config(seed=seed, lr=5e-3, epochs=2, warmup_ratio=0.0, device="cpu")
    result = train(model, recipe, config, on_step=lambda step, row: seen.append(dict(recipe.last)))
    return result, model, teacher, teacher_before, student_before, seen


def test_stage2_training_keeps_the_teacher_frozen_and_is_deterministic(tiny_dir, tok):
    result, model, teacher, teacher_before, student_before, seen = run_stage2(tiny_dir, tok)
    losses = result.log["loss"].tolist()
    assert result.steps == 8 and all(last["r2"] > 0 for last in seen)
    assert all(last["r1"] > 0 for last in seen[:4]) and all(
        last["r1"] == 0.0 for last in seen[4:]
    )  # MT epoch
    assert all(
        last["task"] + LAMBDA1 * last["r1"] + LAMBDA2 * last["r2"] == pytest.approx(loss)
        for last, loss in zip(seen, losses, strict=True)
    )
    after = teacher.state_dict()
    assert after.keys() == teacher_before.keys()
    assert all(torch.equal(after[k], v) for k, v in teacher_before.items())
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters()) and not teacher.training
    assert any(not torch.equal(model.state_dict()[k], v) for k, v in student_before.items())
    again, model2, *_, seen2 = run_stage2(tiny_dir, tok)
    assert again.log["loss"].tolist() == losses and seen2 == seen
    for (name, p), q in zip(model.state_dict().items(), model2.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
