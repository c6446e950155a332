"""awesome-align's self-training objective of the embedding aligner (align/self_training.py)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from _helpers_model import tiny_aligner_encoder, toy_parallel

from pipeline_steps import align, config_schema
from pipeline_steps.align import embedding as emb
from pipeline_steps.align import self_training as so
from pipeline_steps.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# The objective and its guide


def test_so_loss_hand_computed():
    """x = I_2, y = [[ln 2, 0], [0, 0], [0, ln 2]]: S = x y^T = [[ln 2, 0, 0], [0, 0, ln 2]].
    Rows (source -> target): softmax [2, 1, 1] / 4 and [1, 1, 2] / 4; columns (target -> source):
    [2/3, 1/3], [1/2, 1/2], [1/3, 2/3]. Guide A = links (0, 0) and (1, 2):
    sum A P_row / n = (1/2 + 1/2) / 2 = 1/2;  sum A P_col / m = (2/3 + 2/3) / 3 = 4/9;
    L_so = -(1/2 + 4/9) = -17/18."""
    ln2 = math.log(2.0)
    x = torch.eye(2)
    y = torch.tensor([[ln2, 0.0], [0.0, 0.0], [0.0, ln2]])
    guide = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert so.so_loss(x, y, guide).item() == pytest.approx(-17 / 18, abs=1e-6)
    # one link less: (0, 0) only -> -(1/2 / 2 + 2/3 / 3) = -(1/4 + 2/9) = -17/36
    assert so.so_loss(x, y, guide * torch.tensor([[1.0], [0.0]])).item() == pytest.approx(-17 / 36, abs=1e-6)
    assert so.so_loss(x, y, torch.zeros(2, 3)).item() == 0.0
    # every pair linked: both directions' probabilities sum to 1 per row / column -> -(1 + 1)
    assert so.so_loss(x, y, torch.ones(2, 3)).item() == pytest.approx(-2.0, abs=1e-6)


def test_so_loss_gradient_raises_the_guided_scores():
    x = torch.eye(2)
    y = torch.tensor([[0.3, 0.0], [0.0, 0.2], [0.1, 0.4]], requires_grad=True)
    guide = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    so.so_loss(x, y, guide).backward()
    # a gradient step (-grad) moves y_0 towards x_0 and y_2 towards x_1, y_1 (no link) away from both
    step = -y.grad
    assert step[0, 0] > 0 and step[2, 1] > 0 and step[1, 0] < 0 and step[1, 1] < 0


@pytest.mark.parametrize("threshold", [0.001, 0.1, 0.3])
def test_guide_is_softmax_links_at_the_threshold(threshold):
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 4, generator=gen) * 2, torch.randn(6, 4, generator=gen) * 2
    links = emb.softmax_links(x, y, threshold)
    # one sub-word per word: exactly softmax_links
    assert torch.equal(so.guide_matrix(x, y, range(5), range(6), threshold), links.float())
    # words of several sub-words: every sub-word pair of two linked words
    x_words, y_words = [0, 0, 1, 2, 2], [0, 1, 1, 1, 2, 3]
    guide = so.guide_matrix(x, y, x_words, y_words, threshold)
    for i in range(5):
        for j in range(6):
            linked = any(
                links[a, b]
                for a in range(5)
                for b in range(6)
                if (x_words[a], y_words[b]) == (x_words[i], y_words[j])
            )
            assert guide[i, j].item() == float(linked)


# ---------------------------------------------------------------------------------------------
# A tiny encoder


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    return tiny_aligner_encoder(tmp_path_factory.mktemp("so"), ("en", "de"))


@pytest.fixture(scope="module")
def toy_pairs() -> list[tuple[list[str], list[str]]]:
    return list(zip(*toy_parallel("de"), strict=True))


def settings(path: str, **self_training) -> emb.EmbeddingSettings:
    # the tiny random encoder's softmax is flat: at 0.001 nearly every pair is a link, 0.2 keeps a third
    st = {"epochs": 5, "lr": 1e-3, "batch_size": 2, "threshold": 0.2, **self_training}
    return emb.EmbeddingSettings.from_options({"name_or_path": path, "layer": 2, "self_training": st})


def test_the_loss_uses_the_aligners_softmax_links(tiny_encoder, toy_pairs):
    """The guide of every pair is the word links of the aligner's own softmax extraction (method
    softmax at the threshold) on the current weights, spread to the linked words' sub-words."""
    tok, model = emb.load_encoder(tiny_encoder, torch.device("cpu"))
    s = settings(tiny_encoder)
    recipe = so.make_recipe(tok, model, toy_pairs, s, seed=0)
    batch = recipe.collate(range(recipe.n))
    guides = recipe.guides(model, batch)
    softmax = emb.EmbeddingSettings.from_options(
        {"name_or_path": tiny_encoder, "layer": 2, "method": "softmax", "softmax_threshold": 0.2}
    )
    expected, _ = emb.align_sentences(
        [s for s, _ in toy_pairs], [t for _, t in toy_pairs], tok, model, softmax
    )
    multi = 0
    for k, guide in enumerate(guides):
        src_words = [w for w in batch["src"][k].word_of if w >= 0]
        tgt_words = [w for w in batch["tgt"][k].word_of if w >= 0]
        assert guide.shape == (len(src_words), len(tgt_words))
        assert {(src_words[i], tgt_words[j]) for i, j in guide.nonzero().tolist()} == expected[k]
        for i, j in guide.nonzero().tolist():  # every sub-word pair of two linked words
            assert all(
                guide[a, b] == 1
                for a in range(len(src_words))
                for b in range(len(tgt_words))
                if (src_words[a], tgt_words[b]) == (src_words[i], tgt_words[j])
            )
        multi += len(src_words) > len(set(src_words))
        assert 0 < guide.sum() < guide.numel()  # at 0.2 some pairs are linked, not all
    assert multi > 0  # words the tiny vocabulary splits into several sub-words
    model.eval()  # dropout off: the loss is the batch loss under these guides
    assert recipe.loss(model, batch).item() == recipe.batch_loss(model, batch, guides).item()


def scores_gap(recipe: so.SelfTrainingRecipe, model, batch, guides) -> float:
    """Mean dot product of the guide's sub-word pairs minus that of the other pairs."""
    with torch.no_grad():
        gaps = [
            ((x @ y.T)[g.bool()].mean() - (x @ y.T)[~g.bool()].mean()).item()
            for (x, _, y, _), g in zip(recipe.vectors(model, batch), guides, strict=True)
        ]
    return sum(gaps) / len(gaps)


def test_fine_tuning_lowers_the_so_loss_and_follows_the_guide(tiny_encoder, toy_pairs):
    tok, model = emb.load_encoder(tiny_encoder, torch.device("cpu"))
    s = settings(tiny_encoder)
    recipe = so.make_recipe(tok, model, toy_pairs, s, seed=0)
    batch = recipe.collate(range(recipe.n))
    guides = recipe.guides(model, batch)  # the links of the frozen encoder
    model.eval()
    with torch.no_grad():
        before = recipe.batch_loss(model, batch, guides).item()
    gap_before = scores_gap(recipe, model, batch, guides)
    result = so.fine_tune(model, tok, toy_pairs, s, seed=0)
    assert not model.training
    assert result.steps == 5 * math.ceil(len(toy_pairs) / 2)
    with torch.no_grad():
        after = recipe.batch_loss(model, batch, guides).item()
    assert after < before - 0.1  # -1.27 -> about -1.6 (of -2 at best)
    assert scores_gap(recipe, model, batch, guides) > gap_before  # linked pairs now more similar


def trained_weights(path: str, pairs, seed: int) -> dict[str, torch.Tensor]:
    """The encoder's parameters after one epoch of SO (not the pooler: the tiny checkpoint has none, so
    loading initialises it at random, and the aligner never reads it)."""
    tok, model = emb.load_encoder(path, torch.device("cpu"))
    so.fine_tune(model, tok, pairs, settings(path, epochs=1), seed=seed)
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("pooler.")}


def test_same_seed_same_weights(tiny_encoder, toy_pairs):
    first = trained_weights(tiny_encoder, toy_pairs, seed=3)
    again = trained_weights(tiny_encoder, toy_pairs, seed=3)
    other = trained_weights(tiny_encoder, toy_pairs, seed=4)
    untrained = emb.load_encoder(tiny_encoder, torch.device("cpu"))[1].state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
    assert not torch.equal(
        first["embeddings.word_embeddings.weight"], untrained["embeddings.word_embeddings.weight"]
    )


def test_only_the_layers_up_to_the_aligned_one_learn(tiny_encoder, toy_pairs):
    """Aligning with layer 1 of the 2-layer encoder: layer 2 and the pooler get no gradient."""
    tok, model = emb.load_encoder(tiny_encoder, torch.device("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s = emb.EmbeddingSettings.from_options(
        {
            "name_or_path": tiny_encoder,
            "layer": 1,
            "self_training": {"epochs": 1, "lr": 1e-3, "threshold": 0.2},
        }
    )
    so.fine_tune(model, tok, toy_pairs, s, seed=0)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(("embeddings.", "encoder.layer.0.")) for k in changed)
    assert "encoder.layer.0.output.dense.weight" in changed


def test_max_pairs_takes_the_first_pairs(tiny_encoder, toy_pairs):
    tok, model = emb.load_encoder(tiny_encoder, torch.device("cpu"))
    recipe = so.make_recipe(tok, model, toy_pairs, settings(tiny_encoder, max_pairs=4), seed=0)
    assert recipe.n == 4 and recipe.num_batches(0) == 2
    max_length = emb.model_max_length(tok, model.config, None)
    first_four, _ = emb.tokenize(tok, [s for s, _ in toy_pairs[:4]], max_length)
    assert [e.input_ids for e in recipe.src] == [e.input_ids for e in first_four]


# ---------------------------------------------------------------------------------------------
# The aligner with and without self-training


def test_epochs_zero_is_the_frozen_aligner(tiny_encoder, toy_pairs, monkeypatch):
    src, tgt = [s for s, _ in toy_pairs], [t for _, t in toy_pairs]
    base = {"name_or_path": tiny_encoder, "layer": 2, "method": "itermax"}
    tok, model = emb.load_encoder(tiny_encoder, torch.device("cpu"))
    frozen = emb.align_sentences(src, tgt, tok, model, emb.EmbeddingSettings.from_options(base))

    def no_training(*args, **kwargs):
        raise AssertionError("epochs 0 must not fine-tune")

    monkeypatch.setattr(so, "fine_tune", no_training)
    off = {**base, "self_training": {"epochs": 0, "lr": 0.5, "threshold": 0.3}}
    assert emb.directional(src, tgt, seed=7, options=off) == frozen
    assert emb.directional(src, tgt, options=base) == frozen
    assert not emb.trains_on_corpus(off) and not emb.trains_on_corpus(base)
    # extra pairs are not passed: they change nothing
    monkeypatch.setitem(align.BACKENDS, "embedding", "pipeline_steps.align.embedding")
    alone = align.align_corpus(src, tgt, backend="embedding", options=off)
    assert (
        align.align_corpus(src + src[:3], tgt + tgt[::-1][:3], backend="embedding", n_keep=6, options=off)
        == alone
    )


def test_epochs_train_on_the_pairs_and_the_extra_pairs(tiny_encoder, toy_pairs, monkeypatch):
    """With epochs > 0 the aligner fine-tunes on every pair align_corpus passes (the pairs to align, then
    the extra parallel pairs), seeded by the align step's seed, else awesome-align's 42."""
    calls = []
    real = so.fine_tune

    def recording(model, tokenizer, pairs, settings, *, seed, device):
        calls.append((list(pairs), settings.self_training, seed))
        return real(model, tokenizer, pairs, settings, seed=seed, device=device)

    monkeypatch.setattr(so, "fine_tune", recording)
    monkeypatch.setitem(align.BACKENDS, "embedding", "pipeline_steps.align.embedding")
    src, tgt = [s for s, _ in toy_pairs], [t for _, t in toy_pairs]
    on = {
        "name_or_path": tiny_encoder,
        "layer": 2,
        "self_training": {"epochs": 1, "lr": 1e-3, "threshold": 0.2},
    }
    assert emb.trains_on_corpus(on)
    links = align.align_corpus(src[:4], tgt[:4], backend="embedding", seed=11, options=on)
    extra = align.align_corpus(src, tgt, backend="embedding", n_keep=4, seed=11, options=on)
    assert [len(c[0]) for c in calls] == [4, 6] and calls[1][0] == list(zip(src, tgt, strict=True))
    assert [c[2] for c in calls] == [11, 11]
    assert calls[0][1] == emb.SelfTrainingSettings(epochs=1, lr=1e-3, threshold=0.2)
    assert len(links) == len(extra) == 4
    emb.directional(src[:2], tgt[:2], options=on)  # no seed from the step: awesome-align's
    assert calls[-1][2] == emb.SELF_TRAINING_SEED == 42


# ---------------------------------------------------------------------------------------------
# Options


def test_defaults_come_from_the_schema():
    defaults = config_schema.defaults("align.embedding.self_training")
    assert defaults == {
        "epochs": 0,
        "lr": 2e-5,
        "batch_size": 8,
        "threshold": 0.001,
        "max_pairs": None,
    }
    s = emb.EmbeddingSettings.from_options(
        {"name_or_path": "m", "self_training": {"epochs": 2, "max_pairs": None}}
    )
    assert s.self_training == emb.SelfTrainingSettings(**{**defaults, "epochs": 2})
    assert emb.EmbeddingSettings.from_options({"name_or_path": "m"}).self_training.epochs == 0


@pytest.mark.parametrize(
    ("self_training", "key"),
    [
        ({"lr": -1e-5}, "self_training.lr"),
        ({"lr": 0}, "self_training.lr"),
        ({"threshold": 0}, "self_training.threshold"),
        ({"threshold": 1.0}, "self_training.threshold"),
        ({"threshold": 1.5}, "self_training.threshold"),
        ({"epochs": -1}, "self_training.epochs"),
        ({"batch_size": 0}, "self_training.batch_size"),
        ({"max_pairs": 0}, "self_training.max_pairs"),
        ({"epoch": 1}, "self_training.epoch"),
        ("yes", "self_training must be a mapping"),
    ],
)
def test_bad_options_name_the_key(self_training, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        emb.EmbeddingSettings.from_options({"name_or_path": "m", "self_training": self_training})


def test_the_schema_rejects_bad_values_naming_the_key():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.setdefault("align", {})["embedding"] = {"self_training": {"lr": -1, "threshold": 1, "epoch": 1}}
    with pytest.raises(ConfigError) as err:
        config_schema.validate(config)
    text = str(err.value)
    assert "align.embedding.self_training.lr:" in text and "align.embedding.self_training.threshold:" in text
    assert "'epoch' was unexpected" in text
    config["align"]["embedding"] = {"self_training": {"epochs": 1}}
    filled = config_schema.validate(config)["align"]["embedding"]["self_training"]
    assert filled == {**config_schema.defaults("align.embedding.self_training"), "epochs": 1}


def load_bench():
    path = ROOT / "benchmarks" / "projection_bench.py"
    spec = importlib.util.spec_from_file_location("projection_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_benchmark_nests_dotted_embedding_options():
    bench = load_bench()
    opts = bench.embedding_options(
        ["layer=8", "self_training.epochs=1", "self_training.lr=5e-5", "method=softmax"]
    )
    assert opts == {"layer": 8, "method": "softmax", "self_training": {"epochs": 1, "lr": 5e-5}}
    assert bench.embedding_options(["device=cpu", "max_length=null"]) == {"device": "cpu", "max_length": None}
    assert emb.EmbeddingSettings.from_options({"name_or_path": "m", **opts}).self_training.lr == 5e-5
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        bench.embedding_options(["self_training.epochs"])


def test_benchmark_variants_align_one_fine_tuned_encoder_several_ways(tiny_encoder, tmp_path, capsys):
    """``aer --variant``: one SO fine-tune, then each extraction; a variant equal to the base options
    scores what the backend itself gives, argmax links are final, dev + test split the pairs."""
    bench = load_bench()
    en, de = toy_parallel("de")
    gold = tmp_path / "gold"
    gold.mkdir()
    (gold / "de").write_text("\n".join(" ".join(s) for s in de) + "\n", encoding="latin-1")
    (gold / "en").write_text("\n".join(" ".join(s) for s in en) + "\n", encoding="latin-1")
    (gold / "alignmentDeEn.talp").write_text("\n".join("1-1 2p2" for _ in de) + "\n", encoding="latin-1")
    base = ["aer", "--gold-dir", str(gold), "--backend", "embedding", "--embedding-model", tiny_encoder]
    base += ["--embedding-option", "layer=2", "self_training.epochs=1", "--symmetrize-all", "intersection"]

    def runs(name: str, *args: str) -> list[dict]:
        bench.main([*base, "--out", str(tmp_path / name), *args])
        return json.loads((tmp_path / name).read_text())["runs"][1:]  # [0]: the diagonal baseline

    variants = ["--variant", "method=directional", "--variant", "method=argmax", "layer=1"]
    aer = {(r["variant"], r["alignment"]): r["AER"] for r in runs("a.json", "--dev-pairs", "2", *variants)}
    assert set(aer["method=argmax layer=1", "forward"]) == {"all", "dev", "test"}
    argmax = {aer["method=argmax layer=1", a]["all"] for a in ("forward", "reverse", "intersection")}
    assert len(argmax) == 1  # argmax links are final: both directions and their intersection agree
    backend = {r["alignment"]: r["AER"]["mean"] for r in runs("b.json")}
    assert aer["method=directional", "intersection"]["all"] == pytest.approx(backend["intersection"])
    with pytest.raises(SystemExit, match="layer <= 2"):
        runs("c.json", "--variant", "layer=3")
    capsys.readouterr()
