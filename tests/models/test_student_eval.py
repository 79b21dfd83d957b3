"""Evaluation against references: BLEU/ROUGE-L on a small file, a teacher run side by side, critic acceptance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from transformers import AutoModel, AutoTokenizer

from skd.core.errors import InputError
from skd.graph_schema.records import make_triple
from skd.ingest.inferences import teacher_outputs_live
from skd.models.critic import Critic, CriticConfig, CriticModel
from skd.models.student import Student
from skd.models.student_data import apply_critic
from skd.models.student_eval import (
    evaluate,
    read_references,
    render_markdown,
    student_outputs,
    teacher_outputs_from_run,
    text_metrics,
    write_report,
)
from skd.models.student_train import train_student
from tests.tiny_models import tiny_bert, tiny_gpt2

REFERENCES = """\
PersonX buys a car\txWant\tto drive it
PersonX buys a car\txWant\tto show it off
PersonX buys a car\txNeed\tto save money
PersonX buys a car\txNeed\tnone
PersonX eats pizza\txReact\tfull
PersonX eats pizza\txReact\tsatisfied
PersonX goes to school\toReact\tnone
"""


@pytest.fixture
def refs_file(tmp_path: Path) -> Path:
    path = tmp_path / "refs.tsv"
    path.write_text(REFERENCES, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Student:
    base = tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))
    out = tmp_path_factory.mktemp("student")
    taught = [
        ("PersonX buys a car", "xWant", "to drive it"),
        ("PersonX buys a car", "xNeed", "to get a loan"),
        ("PersonX eats pizza", "xReact", "full"),
    ]
    train_student(
        [make_triple(*t) for t in taught],
        out,
        base=str(base),
        max_steps=80,
        batch_size=4,
        lr=1e-2,
        eval_every=40,
        val_fraction=0.0,
        warmup_steps=5,
    )
    return Student.load(out)


def make_critic(folder: Path, cutoff: float) -> Critic:
    """A real (untrained) tiny critic whose calibrated cutoff at recall 0.8 is `cutoff`."""
    if not (folder / "config.json").exists():
        tiny_bert(folder)
    model = CriticModel(AutoModel.from_pretrained(folder), hidden=16).eval()
    config = CriticConfig(
        encoder=str(folder),
        mode="head",
        hidden=16,
        levels={"0.8": {"cutoff": cutoff, "precision": 0.9, "recall": 0.8}},
    )
    return Critic(model, AutoTokenizer.from_pretrained(folder), config, folder)


def _bleu1_and_rouge_l(outputs: dict, pairs: dict) -> tuple[float, float]:
    """Corpus BLEU-1 and mean ROUGE-L F of each pair's first output, computed directly with the libraries."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    hyps = [(outputs[k] or [""])[0] for k in pairs]
    refs = [pairs[k] for k in pairs]
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(max(map(len, refs)))]
    bleu1 = BLEU(max_ngram_order=1, lowercase=True).corpus_score(hyps, streams).score / 100
    scorer = rouge_scorer.RougeScorer(["rougeL"])  # its tokenizer lower-cases
    rouge = [scorer.score_multi(r, h)["rougeL"].fmeasure if h else 0.0 for h, r in zip(hyps, refs, strict=True)]
    return bleu1, sum(rouge) / len(rouge)


def test_references_group_all_tails_and_drop_none(refs_file: Path) -> None:
    refs = read_references(refs_file)
    assert refs.pairs == {
        ("personx buys a car", "xWant"): ["to drive it", "to show it off"],
        ("personx buys a car", "xNeed"): ["to save money"],
        ("personx eats pizza", "xReact"): ["full", "satisfied"],
    }
    assert refs.requests()[0] == ("PersonX buys a car", "xWant")


def test_metrics_are_one_for_references_and_low_for_unrelated_text() -> None:
    refs = [["to drive it", "to show it off"], ["to save some money"]]
    perfect = text_metrics(["to show it off", "to save some money"], refs)
    assert all(v == pytest.approx(1.0) for v in perfect.values())
    wrong = text_metrics(["bananas are yellow", "the sky"], refs)
    assert wrong["bleu1"] == 0.0 and wrong["rougeL"] == 0.0
    partial = text_metrics(["to drive a bus", "to save money"], refs)
    assert 0 < partial["bleu4"] < partial["bleu2"] < partial["bleu1"] < 1
    assert 0 < partial["rougeL"] < 1
    # Worked out by hand. Clipped n-gram matches against the best reference: unigrams 2/4 ("to drive") and
    # 3/3, so p1 = 5/7; bigrams 1/3 ("to drive") and 1/2 ("to save"), p2 = 2/5; no trigram or 4-gram matches
    # (3 and 1 of them), which sacrebleu's default `exp` smoothing makes 1/(2*3) and 1/(4*1). Hypotheses are
    # 7 tokens against closest reference lengths 4 + 4 = 8: brevity penalty exp(1 - 8/7).
    bp = math.exp(1 - 8 / 7)
    assert partial["bleu1"] == pytest.approx(bp * 5 / 7)
    assert partial["bleu2"] == pytest.approx(bp * (5 / 7 * 2 / 5) ** (1 / 2))
    assert partial["bleu3"] == pytest.approx(bp * (5 / 7 * 2 / 5 * 1 / 6) ** (1 / 3))
    assert partial["bleu4"] == pytest.approx(bp * (5 / 7 * 2 / 5 * 1 / 6 * 1 / 4) ** (1 / 4))
    # ROUGE-L F: "to drive a bus" best against "to drive it" (LCS 2: P 2/4, R 2/3, F 4/7), "to save money"
    # against "to save some money" (LCS 3: P 1, R 3/4, F 6/7); their mean is 5/7
    assert partial["rougeL"] == pytest.approx((4 / 7 + 6 / 7) / 2)


def test_student_beside_teacher_run_on_the_same_pairs(student: Student, refs_file: Path, tmp_path: Path) -> None:
    refs = read_references(refs_file)
    run = tmp_path / "teacher-run"
    run.mkdir()
    rows = [
        {"head": "PersonX buys a car", "relation": "xWant", "tail": "to crash it", "source": "teacher"},
        {"head": "PersonX buys a car", "relation": "xWant", "tail": "to drive it", "source": "teacher"},
        {"head": "PersonX eats pizza", "relation": "xReact", "tail": "full", "source": "teacher"},
    ]
    (run / "triples-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    systems = {"student": student_outputs(student, refs), "teacher": teacher_outputs_from_run(run)}
    assert systems["student"][("personx buys a car", "xWant")] == ["to drive it"]

    report = evaluate(refs, systems, {"teacher": "run"})
    assert report["references"]["pairs"] == 2 and report["references"]["pairs_in_file"] == 3
    s, t = report["systems"]["student"], report["systems"]["teacher"]
    assert s["bleu1"] == pytest.approx(1.0) and s["rougeL"] == pytest.approx(1.0)
    assert t["outputs"] == 3 and t["rougeL"] < 1.0  # its first xWant output is "to crash it"
    # the two pairs both answered: "to crash it" (unigrams "to", "it" of 3; ROUGE-L: LCS 2 of 3 against "to
    # drive it", F 2/3) and "full" (a reference: 1/1, F 1); 4 tokens against closest reference lengths 3 + 1
    assert t["bleu1"] == pytest.approx(3 / 4) and t["rougeL"] == pytest.approx((2 / 3 + 1) / 2)
    assert report["critic"] is None

    md = render_markdown(report)
    assert "| metric | student | teacher |" in md and "| bleu1 | 1.000 |" in md and "1 pairs not answered" in md
    js, mdfile = write_report(report, tmp_path / "report")
    assert json.loads(js.read_text())["systems"]["teacher"]["name"] == "run" and mdfile.read_text() == md


def test_teacher_asked_on_the_spot_answers_every_pair(student: Student, refs_file: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from skd.models.teacher import make_teacher

    refs = read_references(refs_file)
    teacher = make_teacher(str(student.info["base"]), settings)  # the tiny GPT-2, few-shot prompted
    outputs = teacher_outputs_live(teacher, refs, per_pair=2)
    assert set(outputs) == set(refs.pairs) and all(len(v) <= 2 for v in outputs.values())
    report = evaluate(refs, {"student": student_outputs(student, refs), "teacher": outputs})
    teacher_row = report["systems"]["teacher"]
    assert report["references"]["pairs"] == 3 and teacher_row["outputs"] == sum(map(len, outputs.values()))
    assert teacher_row["empty_pairs"] == sum(1 for v in outputs.values() if not v)
    assert 0.0 <= teacher_row["bleu1"] <= 1.0
    # the teacher's top outputs scored here straight with sacrebleu and rouge-score, as the module documents
    # (lower-cased, every reference of a pair, an unanswered pair an empty output)
    assert teacher_row["bleu1"] == pytest.approx(_bleu1_and_rouge_l(outputs, refs.pairs)[0], abs=1e-12)
    assert teacher_row["rougeL"] == pytest.approx(_bleu1_and_rouge_l(outputs, refs.pairs)[1], abs=1e-12)
    # the untrained teacher writes noise, so its scores can only be checked as above; the student beside
    # it writes what it was taught, whose scores follow by hand: unigrams 3/3 + 1/4 ("to") + 1/1 = 5/8, 8
    # tokens against closest reference lengths 3 + 3 + 1 (no brevity penalty); ROUGE-L F 1, 2/7 (LCS 1:
    # P 1/4, R 1/3) and 1
    taught = student_outputs(student, refs)
    assert taught == {
        ("personx buys a car", "xWant"): ["to drive it"],
        ("personx buys a car", "xNeed"): ["to get a loan"],
        ("personx eats pizza", "xReact"): ["full"],
    }
    student_row = report["systems"]["student"]
    assert (student_row["bleu1"], student_row["rougeL"]) == pytest.approx(_bleu1_and_rouge_l(taught, refs.pairs))
    assert student_row["bleu1"] == pytest.approx(5 / 8) and student_row["rougeL"] == pytest.approx((1 + 2 / 7 + 1) / 3)


def test_critic_acceptance_follows_the_cutoff(student: Student, refs_file: Path, tmp_path: Path) -> None:
    refs = read_references(refs_file)
    systems = {"student": student_outputs(student, refs)}
    lenient = evaluate(refs, systems, critic=make_critic(tmp_path / "critic", 0.0), recall_level=0.8)
    strict = evaluate(refs, systems, critic=make_critic(tmp_path / "critic", 1.01), recall_level=0.8)
    assert lenient["systems"]["student"]["critic_accepted"] == 1.0
    assert strict["systems"]["student"]["critic_accepted"] == 0.0
    assert lenient["critic"]["cutoff"] == 0.0 and lenient["critic"]["references_accepted"] == 1.0
    mean = lenient["systems"]["student"]["critic_mean_score"]
    middle = evaluate(refs, systems, critic=make_critic(tmp_path / "critic", mean), recall_level=0.8)
    items = [(refs.heads[k], r, v[0]) for (k, r), v in systems["student"].items()]
    scores = make_critic(tmp_path / "critic", mean).score(items)
    assert middle["systems"]["student"]["critic_accepted"] == pytest.approx(sum(x >= mean for x in scores) / 3)
    assert "Critic `critic` at recall level 0.8" in render_markdown(middle)


def test_apply_critic_scores_only_unscored_triples(tmp_path: Path) -> None:
    critic = make_critic(tmp_path / "critic", 0.5)
    kept_score = make_triple("PersonX eats", "xNeed", "food", score=0.9)
    dropped_score = make_triple("PersonX eats", "xWant", "to sleep", score=0.1)
    unscored = make_triple("PersonX eats", "xReact", "full")
    kept, cutoff = apply_critic([kept_score, dropped_score, unscored], critic, recall_level=0.8)
    assert cutoff == 0.5 and kept_score in kept and dropped_score not in kept
    assert unscored.score == pytest.approx(critic.score([unscored])[0])
    assert (unscored in kept) == (unscored.score >= 0.5)


def test_evaluate_refuses_what_it_cannot_score(refs_file: Path, tmp_path: Path) -> None:
    refs = read_references(refs_file)
    with pytest.raises(InputError, match="no systems"):
        evaluate(refs, {})
    with pytest.raises(InputError, match="answered by every system"):
        evaluate(refs, {"a": {}, "b": {("personx buys a car", "xWant"): ["x"]}})
    empty = tmp_path / "none.tsv"
    empty.write_text("PersonX runs\txWant\tnone\n", encoding="utf-8")
    with pytest.raises(InputError, match="no references"):
        read_references(empty)
