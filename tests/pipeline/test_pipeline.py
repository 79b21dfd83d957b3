"""The pipeline end to end on tiny real models and the real embedded graph: every stage's outputs, skip and
resume, config changes re-running what they touch, and the report."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sacrebleu.metrics import BLEU

from skd.core.errors import BudgetExceededError, ConfigError
from skd.core.settings import Settings
from skd.graph_schema.store import GraphStore
from skd.graph_schema.text import text_key
from skd.graph_schema.triples_io import read_triples
from skd.models.critic import Critic
from skd.models.student import Student
from skd.models.student_eval import read_references, student_outputs
from skd.pipeline.config import PipelineConfig, bundled_path, parse_config
from skd.pipeline.runner import STATE_FILE, PipelineProgress, run_pipeline
from skd.pipeline.stages import stage_names
from tests.openai_stub_server import StubServer
from tests.tiny_models import tiny_bert, tiny_gpt2

RELATIONS = ["xWant", "xReact", "HinderedBy"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipeline-models")
    return {"gpt2": tiny_gpt2(root / "gpt2"), "bert": tiny_bert(root / "bert")}


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[StubServer]:
    """A fake OpenAI-compatible teacher (a paid API cannot run here), over real HTTP on 127.0.0.1."""
    with StubServer() as srv:
        yield srv


class Recorder(PipelineProgress):
    """Keeps what the pipeline reported, to check that every stage shows progress."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.updates = 0

    def stage_started(self, index: int, total: int, stage: str, title: str, resumed: bool) -> None:
        self.events.append(("resumed" if resumed else "started", stage))

    def stage_skipped(self, index: int, total: int, stage: str, title: str, record: dict[str, Any]) -> None:
        self.events.append(("skipped", stage))

    def stage_finished(self, index: int, total: int, stage: str, title: str, record: dict[str, Any]) -> None:
        self.events.append(("finished", stage))

    def update(self, description: str, done: int, total: int | None) -> None:
        self.updates += 1


def config(tmp_path: Path, models: dict[str, Path], teacher: dict[str, Any], **sections: Any) -> PipelineConfig:
    doc: dict[str, Any] = {
        "run": {"name": "tiny", "dir": str(tmp_path / "run"), "relations": RELATIONS},
        "teacher": {"cache": False, **teacher},
        "events": {"n": 12, "prompts_per_batch": 4},
        "inferences": {"per_pair": 2, "max_tokens": 8},
        "critic": {"encoder": str(models["bert"]), "bootstrap_events": 60, "epochs": 3, "recall_level": 0.9},
        "student": {"base": str(models["gpt2"]), "max_steps": 4, "batch_size": 4, "eval_every": 2, "val_fraction": 0.2},
        "evaluate": {"events": 4, "examples": 100},  # every pair's outputs in the report, to check its scores
    }
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return parse_config(doc, tmp_path)


def stub_teacher(server: StubServer) -> dict[str, Any]:
    return {
        "model": "openai:stub-model",
        "base_url": server.base_url,
        "price_per_1k_prompt_tokens": 0.5,
        "price_per_1k_completion_tokens": 1.5,
    }


def mtimes(run: Path) -> dict[str, int]:
    skip = {STATE_FILE, "report.json", "report.md"}
    return {str(p.relative_to(run)): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and p.name not in skip}


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory,
    models: dict[str, Path],
    fake_openai: StubServer,
    session_store: GraphStore,
    settings: Settings,
) -> dict[str, Any]:
    """One full run, shared: later tests start from copies of its folder."""
    session_store.clear()
    tmp_path = tmp_path_factory.mktemp("pipeline")
    cfg = config(tmp_path, models, stub_teacher(fake_openai))
    rec = Recorder()
    result = run_pipeline(cfg, settings=settings, store=session_store, progress=rec)
    return {"tmp": tmp_path, "cfg": cfg, "result": result, "recorder": rec}


def test_pipeline_end_to_end_with_fake_openai_teacher_then_skips_everything(
    first_run: dict[str, Any], fake_openai: StubServer, session_store: GraphStore, settings: Settings
) -> None:
    tmp_path, cfg, result, rec = first_run["tmp"], first_run["cfg"], first_run["result"], first_run["recorder"]
    store = session_store
    run = tmp_path / "run"
    assert result.run_dir == run.resolve()
    assert [s.status for s in result.stages] == ["ran"] * 7
    assert [e for e in rec.events if e[0] == "finished"] == [("finished", s) for s in stage_names()]
    assert rec.updates > 7
    counts = result.report["counts"]

    # 1-2. the teacher's events and triples, with provenance
    assert counts["events"]["events"] == 12
    triples = [n.triple for p in sorted((run / "inferences").glob("triples-*.jsonl")) for n in read_triples(p)]
    assert len(triples) == counts["inferences"]["triples"] > 0
    assert {t.relation for t in triples} <= set(RELATIONS)
    assert counts["inferences"]["pairs"] == 12 * len(RELATIONS)
    assert all(t.teachers == ["openai:stub-model"] for t in triples)

    # 3. the critic: trained on weak labels, held-out events kept out of its labels
    critic = Critic.load(run / "critic" / "model")
    heldout = list(read_triples(run / "heldout-references.tsv"))
    held_heads = {n.triple.head for n in heldout}
    assert counts["critic"]["heldout_events"] == len(held_heads) == 4
    # judged teacher output (the bundled labels) less the held-out events, and weak labels made from the
    # bootstrap rows less them too, training a head of their own that the stack reads beside the judged head,
    # the teacher's log-probability and the nearest human tails of other events (`combine = "stack"`, the
    # measured best); calibrated on the judged labels
    judged = [json.loads(line) for line in (run / "critic" / "judged.jsonl").read_text().splitlines()]
    assert judged and not {text_key(h) for h in held_heads} & {text_key(r["head"]) for r in judged}
    weak = [json.loads(line) for line in (run / "critic" / "labels.jsonl").read_text().splitlines()]
    assert weak and not {text_key(h) for h in held_heads} & {text_key(r["head"]) for r in weak}
    assert [s["kind"] for s in critic.config.sources] == ["weak", "judged"]
    assert critic.config.features == ["teacher_logprob", "weak_head", "tail_knn"] and critic.weak_model is not None
    assert counts["critic"]["features"] == critic.config.features
    assert counts["critic"]["calibration"].startswith("judged labels of")
    assert "promised precision" in (run / "report.md").read_text(encoding="utf-8")

    # 4. scores on every triple, the accepted ones at or above the recall level's cutoff
    cutoff = critic.cutoff(recall_level=0.9)
    scored = [n.triple for p in sorted((run / "scored").glob("*.jsonl")) for n in read_triples(p)]
    accepted = [n.triple for n in read_triples(run / "accepted.jsonl")]
    assert len(scored) == len(triples) and all(t.score is not None for t in scored)
    assert sorted(t.key for t in accepted) == sorted(t.key for t in scored if t.score >= cutoff)
    by_rel = result.report["acceptance"]["by_relation"]
    assert sum(r["generated"] for r in by_rel.values()) == len(triples)
    assert sum(r["accepted"] for r in by_rel.values()) == len(accepted)

    # 5. the accepted triples are in the real graph, with their scores
    assert counts["load"]["loaded"] == len(accepted)
    assert store.stats()["triples"] == len(accepted)
    if accepted:
        edge = store.triple(accepted[0].head, accepted[0].relation, accepted[0].tail)
        assert edge is not None and edge.score == pytest.approx(accepted[0].score)

    # 6. the student, trained on the accepted triples only, says so
    student = Student.load(run / "student")
    assert counts["student"]["train_triples"] + counts["student"]["val_triples"] + counts["student"][
        "heldout_dropped"
    ] == len(accepted)
    assert "accepted by the critic at recall level 0.9" in counts["student"]["trained_on"]
    assert student.info["data"]["trained_on"] == counts["student"]["trained_on"]

    # 7. student against teacher on the held-out events, with the critic's acceptance
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert set(evaluation["systems"]) == {"teacher", "student"}
    assert evaluation["references"]["events"] == 4
    assert all(0 <= evaluation["systems"][s]["bleu1"] <= 1 for s in ("teacher", "student"))
    # every pair's top outputs are in the report's examples: BLEU-1 of them, computed here with sacrebleu
    refs = read_references(run / "heldout-references.tsv")
    examples = evaluation["examples"]
    assert [(text_key(e["event"]), e["relation"]) for e in examples] == list(refs.pairs)
    written = student_outputs(student, refs)  # greedy: what the stage's student wrote
    assert [e["student"] for e in examples] == [(written[k] or [""])[0] for k in refs.pairs]
    for system in ("teacher", "student"):
        hyps = [e[system] for e in examples]
        streams = [
            [r[i] if i < len(r) else None for r in refs.pairs.values()]
            for i in range(max(map(len, refs.pairs.values())))
        ]
        bleu1 = BLEU(max_ngram_order=1, lowercase=True).corpus_score(hyps, streams).score / 100
        assert evaluation["systems"][system]["bleu1"] == pytest.approx(bleu1, abs=1e-12), system

    # the report: counts, acceptance, tokens and cost, time per stage, in JSON and Markdown
    report = json.loads((run / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == stage_names()
    assert all(s["seconds"] is not None and s["cpu_seconds"] is not None and s["summary"] for s in report["stages"])
    usage = report["usage"]
    assert usage["total"]["tokens"] == sum(usage[s]["tokens"] for s in ("events", "inferences", "evaluate")) > 0
    assert usage["total"]["cost"] > 0
    md = (run / "report.md").read_text()
    for heading in (
        "## Stages",
        "## Critic acceptance per relation",
        "## Teacher tokens and cost",
        "## Student",
        "## Student against teacher",
    ):
        assert heading in md
    assert result.markdown == md

    # a second run recomputes nothing: every stage skipped, no output file touched, no teacher request
    before, served = mtimes(run), fake_openai.state.served
    rec2 = Recorder()
    again = run_pipeline(cfg, settings=settings, store=store, progress=rec2)
    assert [s.status for s in again.stages] == ["skipped"] * 7
    assert rec2.events == [("skipped", s) for s in stage_names()]
    assert mtimes(run) == before and fake_openai.state.served == served
    assert [s["status"] for s in again.report["stages"]] == ["skipped"] * 7


def test_a_changed_config_part_reruns_that_stage_and_the_later_ones(
    tmp_path: Path,
    first_run: dict[str, Any],
    models: dict[str, Path],
    fake_openai: StubServer,
    store: GraphStore,
    settings: Settings,
) -> None:
    shutil.copytree(first_run["tmp"] / "run", tmp_path / "run")
    events_file = next((tmp_path / "run" / "events").glob("events-*.jsonl"))
    stamp = events_file.stat().st_mtime_ns
    changed = config(tmp_path, models, stub_teacher(fake_openai), critic={"recall_level": 0.5})
    second = run_pipeline(changed, settings=settings, store=store, until_stage="load")
    assert [s.status for s in second.stages] == ["skipped"] * 3 + ["ran"] * 2
    assert events_file.stat().st_mtime_ns == stamp
    assert second.report["acceptance"]["selection"]["recall_level"] == 0.5
    # a lower recall level is a higher cutoff: never more accepted
    assert second.report["acceptance"]["accepted"] <= first_run["result"].report["acceptance"]["accepted"]
    assert store.stats()["triples"] == second.report["acceptance"]["accepted"]
    # --from forces a stage even with an unchanged config
    third = run_pipeline(changed, settings=settings, store=store, from_stage="load", until_stage="load")
    assert [s.status for s in third.stages] == ["skipped"] * 4 + ["ran"]
    state = json.loads((tmp_path / "run" / STATE_FILE).read_text())
    assert "student" not in state["stages"]  # its input changed: it must run again next time


def test_a_budget_stop_leaves_the_stage_unfinished_and_a_rerun_resumes_it(
    tmp_path: Path, models: dict[str, Path], fake_openai: StubServer, store: GraphStore, settings: Settings
) -> None:
    cfg = config(tmp_path, models, stub_teacher(fake_openai), events={"n": 40})
    capped = settings.model_copy(update={"teacher_max_requests": 4})  # a spending cap from the environment
    with pytest.raises(BudgetExceededError):
        run_pipeline(cfg, settings=capped, store=store, until_stage="events")
    state = json.loads((tmp_path / "run" / STATE_FILE).read_text())
    assert state["stages"]["events"]["status"] == "running"
    had = sum(len(p.read_text().splitlines()) for p in (tmp_path / "run" / "events").glob("events-*.jsonl"))
    assert 0 < had < 40
    # the cap is not part of the config, so the same config resumes the stage from what is on disk
    rec = Recorder()
    resumed = run_pipeline(cfg, settings=settings, store=store, progress=rec, until_stage="events")
    assert rec.events == [("resumed", "events"), ("finished", "events")]
    assert resumed.report["counts"]["events"]["events"] == 40
    rows = [
        json.loads(line)
        for p in (tmp_path / "run" / "events").glob("events-*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(rows) == len({r["key"] for r in rows}) == 40


def test_local_tiny_teacher_from_an_events_file_with_an_existing_critic(
    tmp_path: Path, first_run: dict[str, Any], models: dict[str, Path], store: GraphStore, settings: Settings
) -> None:
    """The local transformers teacher (a tiny GPT-2) writes inferences for the user's own events; the critic
    is an existing folder, used as it is."""
    events = tmp_path / "events.txt"
    events.write_text("PersonX buys a car\nPersonX loses a key\nPersonX bakes bread for PersonY\n")
    existing = first_run["tmp"] / "run" / "critic" / "model"
    # one example per prompt: the tiny GPT-2 has 256 positions, fewer than a five-example prompt needs
    cfg = config(
        tmp_path,
        models,
        {"model": str(models["gpt2"])},
        events={"file": "events.txt"},
        inferences={"examples_per_prompt": 1},
        critic={"path": str(existing), "recall_level": 0.5},
    )
    result = run_pipeline(cfg, settings=settings, store=store, until_stage="filter")
    counts = result.report["counts"]
    assert counts["events"]["events"] == 3 and counts["events"]["from_file"].endswith("events.txt")
    assert counts["inferences"]["pairs"] == 3 * len(RELATIONS)
    assert (
        counts["inferences"]["triples"] + counts["inferences"]["rejected"] + counts["inferences"]["duplicates"]
        == counts["inferences"]["completions"]
    )
    assert result.report["usage"]["inferences"]["requests"] == 3 * len(RELATIONS)
    assert [s["name"] for s in result.report["stages"]] == ["events", "inferences", "critic", "filter"]
    assert counts["critic"]["source"] == "existing"
    assert result.report["counts"]["critic"]["heldout_events"] == 4
    state = json.loads((tmp_path / "run" / STATE_FILE).read_text())
    assert state["stages"]["critic"]["outputs"]["critic"] == str(existing.resolve())
    assert counts["filter"]["total"] == counts["inferences"]["triples"]


def test_cli_pipeline_prints_progress_and_the_report_then_skips(tmp_path: Path, fake_openai: StubServer) -> None:
    from typer.testing import CliRunner

    from skd.cli.main import app

    cfg = tmp_path / "p.toml"
    cfg.write_text(
        f'[run]\nname = "cli"\ndir = "run"\nrelations = ["xWant"]\n'
        f'[teacher]\nmodel = "openai:stub-model"\nbase_url = "{fake_openai.base_url}"\ncache = false\n'
        "[events]\nn = 5\nprompts_per_batch = 4\n[inferences]\nper_pair = 2\n"
    )
    first = CliRunner().invoke(app, ["pipeline", str(cfg), "--until", "inferences", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert [s["status"] for s in report["stages"]] == ["ran", "ran"]
    assert report["counts"]["events"]["events"] == 5 and report["counts"]["inferences"]["pairs"] == 5
    assert "1/7 teacher events" in first.stderr and "2/7 teacher inferences" in first.stderr
    assert (tmp_path / "run" / "report.md").exists()
    again = CliRunner().invoke(app, ["pipeline", str(cfg), "--until", "inferences"])
    assert again.exit_code == 0, again.output
    assert "skipped" in again.stderr and "# Pipeline run `cli`" in again.stdout
    bad = CliRunner().invoke(app, ["pipeline", str(cfg), "--from", "students"])
    assert bad.exit_code != 0 and "unknown stage 'students'" in bad.output


def test_a_config_pointing_into_a_folder_a_stage_rewrites_is_refused(
    tmp_path: Path, models: dict[str, Path], settings: Settings
) -> None:
    inside = tmp_path / "run" / "critic" / "model"
    inside.mkdir(parents=True)
    (inside / "keep.txt").write_text("mine")
    cfg = config(
        tmp_path,
        models,
        {"model": str(models["gpt2"])},
        events={"file": "events.txt"},
        inferences={"examples_per_prompt": 1, "max_tokens": 4},
        critic={"path": str(inside)},
    )
    (tmp_path / "events.txt").write_text("PersonX buys a car\nPersonX loses a key\n")
    with pytest.raises(ConfigError, match=r"inside .*critic"):
        run_pipeline(cfg, settings=settings, until_stage="critic")
    assert (inside / "keep.txt").read_text() == "mine"


def test_stage_outcomes_are_decided_by_their_type_not_their_wording() -> None:
    from skd.core.errors import IncompleteRunError, InputError, TeacherError
    from skd.ingest.run import Stop
    from skd.pipeline.stages import _stopped

    with pytest.raises(BudgetExceededError, match="out of money"):
        _stopped("event generation", Stop.BUDGET, "out of money", 10)  # no word "cap" needed
    _stopped("event generation", Stop.PROMPT_LIMIT, "prompt limit reached (a cap of 8)", 3)  # accepted as is
    _stopped("event generation", None, None, 3)
    with pytest.raises(TeacherError, match="nothing usable"):
        _stopped("event generation", Stop.PROMPT_LIMIT, "prompt limit reached", 0)
    # an unfinished job is not the user's bad input
    assert not issubclass(IncompleteRunError, InputError) and IncompleteRunError.exit_code != InputError.exit_code


def test_the_student_can_also_learn_from_human_rows_and_says_so(
    tmp_path: Path, models: dict[str, Path], fake_openai: StubServer, store: GraphStore, settings: Settings
) -> None:
    cfg = config(
        tmp_path,
        models,
        stub_teacher(fake_openai),
        critic={"judged": []},
        student={"human_rows": "bundled:atomic2020-paper.tsv"},
    )
    result = run_pipeline(cfg, settings=settings, store=store, until_stage="student")
    counts = result.report["counts"]
    assert counts["critic"]["calibration"].startswith("weak labels only")  # judged = []: it says so
    run = tmp_path / "run"
    held_heads = {n.triple.head for n in read_triples(run / "heldout-references.tsv")}
    labels = [json.loads(line) for line in (run / "critic" / "labels.jsonl").read_text().splitlines()]
    assert labels and not held_heads & {row["head"] for row in labels}  # no held-out event in the weak labels
    assert {row["relation"] for row in labels} <= set(RELATIONS)
    info = Student.load(tmp_path / "run" / "student").info["data"]
    assert info["human_rows"] > 0 and info["human_source"] == "bundled:atomic2020-paper.tsv"
    assert counts["student"]["trained_on"] == info["trained_on"]
    assert "human-written rows" in info["trained_on"]
    # every row of those relations, less the held-out events (they stay out of the human rows too)
    held = {text_key(n.triple.head) for n in read_triples(tmp_path / "run" / "heldout-references.tsv")}
    human = [n.triple for n in read_triples(bundled_path("atomic2020-paper.tsv")) if n.triple.relation in RELATIONS]
    assert held and info["human_rows"] == sum(text_key(t.head) not in held for t in human) < len(human)
