"""The critic's newer parts: the judged head pre-trained on weak labels, the nearest-human-tails columns
(`TailBank`), stack columns computed outside the critic, and the teacher scoring a triple (`critic_teacher`),
with real forward passes of tiny models."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch

from skd.core.errors import ModelError
from skd.graph_schema.records import Triple
from skd.ingest.critic_teacher import NEUTRAL_EVENT, TeacherColumns, TeacherScorer
from skd.models import critic_stack, critic_train
from skd.models.critic import KNN_BANK_NAME, WEAK_HEAD_NAME, Critic
from skd.models.critic_labels import LabeledTriple, read_labels
from skd.models.critic_stack import KNN_COLUMNS, KNN_FEATURE, LOGPROB_FEATURE, TailBank
from skd.models.critic_train import train_critic
from tests.models.test_critic_stack import JUDGED, logprob_rows
from tests.tiny_models import tiny_bert, tiny_gpt2


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def sources(atomic_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small human-written graph (weak labels) and judged teacher rows of other events."""
    folder = tmp_path_factory.mktemp("sources")
    graph, judged = folder / "graph.tsv", folder / "judged.jsonl"
    with atomic_sample.open(encoding="utf-8") as f:
        graph.write_text("".join(islice(f, 300)), encoding="utf-8")
    with JUDGED.open(encoding="utf-8") as f:
        judged.write_text("".join(islice(f, 600)), encoding="utf-8")
    return graph, judged


def _outside_rows(graph_labels: Path, judged: Path) -> list[LabeledTriple]:
    judged_events = {e.event for e in read_labels(judged)}
    return [e for e in read_labels(graph_labels) if e.event not in judged_events]


# -- weak pre-training ---------------------------------------------------------------------------------


def test_the_judged_head_starts_from_the_weak_head_and_is_fine_tuned_from_there(
    bert: Path, sources: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph, judged = sources
    some = [e.scored for e in read_labels(judged)[:40]]
    # with a fine-tuning rate of zero the judged head (and every out-of-fold head) stays the weak head exactly:
    # a head that did not start from the weak head's weights would give other logits
    monkeypatch.setattr(critic_train, "PRETRAIN_FINETUNE_LR", 0.0)
    frozen = train_critic([graph, judged], tmp_path / "lr0", encoder=str(bert), epochs=2, weak_labels="pretrain+head")
    assert frozen.weak_model is not None and frozen.config.metrics["best_epoch"] == 0
    judged_logit, weak_logit = frozen.encoder_logits(some)
    assert judged_logit == pytest.approx(weak_logit, abs=1e-6)
    monkeypatch.undo()
    # fine-tuned at the default rate it moves away from the weak head
    tuned = train_critic([graph, judged], tmp_path / "tuned", encoder=str(bert), epochs=3, weak_labels="pretrain+head")
    judged_logit, weak_logit = tuned.encoder_logits(some)
    assert max(abs(a - b) for a, b in zip(judged_logit, weak_logit, strict=True)) > 1e-3
    assert tuned.config.features == [LOGPROB_FEATURE, "weak_head"]
    # `pretrain` alone: the weak head is not kept nor read; the card and metrics say what it was trained on
    alone = train_critic([graph, judged], tmp_path / "alone", encoder=str(bert), epochs=2, weak_labels="pretrain")
    assert alone.weak_model is None and not (tmp_path / "alone" / WEAK_HEAD_NAME).exists()
    assert alone.stack is not None and alone.stack.base == ["logit"]  # the log-probability's stack, no weak logit
    outside = _outside_rows(tmp_path / "alone.labels" / "weak-labels-0-graph.jsonl", judged)
    assert alone.config.metrics["weak_pretrain"]["rows"] == len(outside) > 0
    assert "pre-trained on" in alone.config.calibration
    assert Critic.load(tmp_path / "alone").score(some) == pytest.approx(alone.score(some), abs=1e-6)


# -- nearest human tails ----------------------------------------------------------------------------------


def _unit(*rows: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_the_tail_bank_finds_the_nearest_human_tails_of_the_relation_from_other_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    e1, e2, e3 = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0]
    t1, t2, t3 = [0.0, 0.0, 1.0], [0.0, 0.6, 0.8], [1.0, 0.0, 0.0]
    # relation 0: (e1, t1) and (e2, t2); relation 1: (e1, t3)
    bank = TailBank.build(_unit(e1, e2, e1), _unit(t1, t2, t3), torch.tensor([0, 0, 1]), ["xWant", "xAttr", "xNeed"])
    assert len(bank) == 3 and bank.events.shape[0] == 2  # e1 is stored once
    u, v = _unit(e1, e3, e3, e3, e3), _unit(t1, t1, t1, t3, t1)
    cols = bank.columns(u, v, torch.tensor([0, 0, 0, 1, 2]))
    # 0: its own event's row is left out, so the nearest tail is t2 (0.8), not t1 itself
    assert cols[0].tolist() == pytest.approx([0.8, 0.8], abs=2e-3)
    # 1: another event: t1 is in the bank (1.0)
    assert cols[1, 0] == pytest.approx(1.0, abs=2e-3)
    # 3: relation 1 sees only its own rows (t3); 4: a relation the bank lacks gives zeros
    assert cols[3].tolist() == pytest.approx([1.0, 1.0], abs=2e-3) and cols[4].tolist() == [0.0, 0.0]
    again = TailBank.from_tensors(bank.tensors(), bank.relations)  # as saved and loaded
    assert np.allclose(again.columns(u, v, torch.tensor([0, 0, 0, 1, 2])), cols)
    # knn_event reads only the tails of the nearest events: with one, e3 is nearest e2, whose tail is t2
    monkeypatch.setattr(critic_stack, "KNN_EVENTS", 1)
    near = bank.columns(_unit([0.1, 0.9, 0.0]), _unit(t1), torch.tensor([0]))
    assert near[0].tolist() == pytest.approx([1.0, 0.8], abs=2e-3)


def test_a_critic_with_the_knn_feature_banks_the_weak_positives_and_stacks_their_columns(
    bert: Path, sources: tuple[Path, Path], tmp_path: Path
) -> None:
    graph, judged = sources
    critic = train_critic(
        [graph, judged], tmp_path / "knn", encoder=str(bert), epochs=2, features=[LOGPROB_FEATURE, KNN_FEATURE]
    )
    assert critic.config.features == [LOGPROB_FEATURE, "weak_head", KNN_FEATURE]
    assert critic.stack is not None and critic.stack.base == ["logit", "weak_logit", *KNN_COLUMNS]
    assert critic.stack.with_logprob is not None and critic.stack.with_logprob.features[2:4] == list(KNN_COLUMNS)
    # the bank: the human-written tails (weak positives) of events without judged labels, nothing else
    outside = _outside_rows(tmp_path / "knn.labels" / "weak-labels-0-graph.jsonl", judged)
    assert critic.knn_bank is not None and len(critic.knn_bank) == sum(e.acceptable for e in outside)
    assert (tmp_path / "knn" / KNN_BANK_NAME).exists() and "human-written tails" in (
        tmp_path / "knn" / "README.md"
    ).read_text()
    loaded = Critic.load(tmp_path / "knn")
    some = [e.scored for e in read_labels(judged)[:30]] + [("PersonX buys a car", "xWant", "to drive it")]
    assert loaded.score(some) == pytest.approx(critic.score(some), abs=1e-6)
    # a banked graph row whose tail no other row of its relation has: its own event is left out of the bank,
    # so it does not find itself
    lines = [x.split("\t") for x in graph.read_text(encoding="utf-8").splitlines()]
    banked = {(e.head, e.relation, e.tail) for e in outside if e.acceptable}
    once = [x for x in lines if sum(y[1:] == x[1:] for y in lines) == 1 and tuple(x) in banked]
    head, rel, tail = once[0]
    assert loaded.knn_bank is not None
    ((knn_tail, _),) = loaded.knn_bank.columns(*_pair(loaded, (head, rel, tail)))
    assert knn_tail < 0.999


def _pair(critic: Critic, item: tuple[str, str, str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = critic.pair_inputs([item])
    return x.u, x.v, x.relation


# -- columns computed outside the critic, and the teacher scoring a triple ------------------------------------


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> TeacherScorer:
    from skd.models.loading import load_causal_lm

    model, tok = load_causal_lm(str(tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))))
    return TeacherScorer(model, tok, examples=1, batch_size=3)


def _reference(scorer: TeacherScorer, prompt: str, tail: str) -> float:
    """log p(" tail." | prompt) by one plain forward pass over the whole text, no cache."""
    tok, model = scorer.tokenizer, scorer.model
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    t = tok(f" {tail}.", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        lp = model(input_ids=torch.tensor([p + t])).logits[0].float().log_softmax(-1)
    return float(sum(lp[len(p) + j - 1, t[j]] for j in range(len(t))))


def test_the_teacher_scores_tails_after_its_own_prompt_as_one_plain_forward_pass_would(scorer: TeacherScorer) -> None:
    items = [
        ("PersonX buys a car", "xWant", "to drive it"),
        ("PersonX buys a car", "xWant", "to show it to friends at once"),
        ("PersonX buys a car", "xNeed", "money"),
        ("PersonX runs a race", "xWant", "to rest"),
        ("PersonX buys a car", "xWant", "x"),
    ]
    got = scorer.conditional(items)  # the xWant tails of one event share its prompt's cache, in two batches
    want = [_reference(scorer, scorer.prompt(h, r), t) for h, r, t in items]
    assert [lp for lp, _ in got] == pytest.approx(want, abs=1e-4)
    assert [n for _, n in got] == [
        len(scorer.tokenizer(f" {t}.", add_special_tokens=False)["input_ids"]) for _, _, t in items
    ]
    assert len({round(lp, 4) for lp, _ in got}) == len(items)  # the tails do score apart
    contrast = scorer.unconditional(items)
    assert contrast[0][0] == pytest.approx(
        _reference(scorer, scorer.prompt(NEUTRAL_EVENT, "xWant"), "to drive it"), abs=1e-4
    )
    assert contrast[0][0] != pytest.approx(got[0][0], abs=1e-3)  # the event changes the tail's probability


def test_teacher_columns_use_a_recorded_logprob_and_score_the_rest(
    scorer: TeacherScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str, str]] = []
    real = scorer.conditional

    def spy(items: list[tuple[str, str, str]]) -> list[tuple[float, int]]:
        asked.extend(items)
        return real(items)

    monkeypatch.setattr(scorer, "conditional", spy)
    columns = TeacherColumns(scorer)
    carried = Triple("PersonX buys a car", "xWant", "to drive it", provenance={"logprob": -3.0})
    plain = ("PersonX buys a car", "xWant", "to drive it")
    (lp_a, pmi_a, per_a), (lp_b, pmi_b, _) = columns([carried, plain])
    assert asked == [plain]  # the triple that carries its teacher's log-probability is not scored again
    base, n = scorer.unconditional([plain])[0]
    assert lp_a == -3.0 and pmi_a == pytest.approx(-3.0 - base) and per_a == pytest.approx(pmi_a / n)
    assert lp_b == pytest.approx(scorer.conditional([plain])[0][0]) and pmi_b == pytest.approx(lp_b - base)
    kept = TeacherColumns(scorer)
    kept.add_contrast_scores(json.loads(json.dumps(columns.contrast_scores())))
    assert kept._unconditional == columns._unconditional


def test_columns_from_outside_enter_the_stack_and_must_be_attached_again(bert: Path, tmp_path: Path) -> None:
    """A column that carries the label (noisily) where the text cannot: the stack must learn to read it."""
    rows = logprob_rows(seed=1)
    for r in rows:
        r.pop("logprob")  # no log-probability: only the outside column can tell them apart
    signal = {(r["head"], r["tail"]): (1.0 if int(str(r["label"])) > 0 else -1.0) for r in rows}
    extra = (("signal",), lambda items: [[signal.get((it[0], it[2]), 0.0)] for it in items])
    critic = train_critic(rows, tmp_path / "extra", encoder=str(bert), epochs=2, extra_columns=extra)
    assert critic.stack is not None and critic.stack.base == ["logit", "signal"]
    assert critic.config.metrics["roc_auc"] > 0.95
    loaded = Critic.load(tmp_path / "extra")
    some = [(str(r["head"]), str(r["relation"]), str(r["tail"])) for r in rows[:20]]
    with pytest.raises(ModelError, match="signal"):
        loaded.score(some)
    loaded.extra_columns = extra
    assert loaded.score(some) == pytest.approx(critic.score(some), abs=1e-6)
