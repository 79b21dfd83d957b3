"""Inference generation: templates for all 23 relations, parsing, run folders and resume, the local teacher."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.core.settings import Settings
from skd.graph_schema.relations import RELATIONS
from skd.graph_schema.triples_io import read_triples, triple_files
from skd.ingest.cache import RequestCache
from skd.ingest.events import generate_events
from skd.ingest.inferences import generate_inferences, infer_for_events, parse_tail, tail_problem
from skd.ingest.prompts import TEMPLATES, choose_examples, load_examples, template_for
from skd.models.teacher import Budget
from skd.models.teacher_local import LocalTeacher
from skd.models.teacher_openai import OpenAITeacher
from tests.openai_stub_server import StubServer
from tests.tiny_models import tiny_gpt2


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with StubServer() as srv:
        yield srv


def teacher(server: StubServer, **kw: object) -> OpenAITeacher:
    return OpenAITeacher("stub-model", base_url=server.base_url, api_key="k", backoff_base_s=0.01, **kw)  # type: ignore[arg-type]


@pytest.fixture
def run_with_events(server: StubServer, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    generate_events(teacher(server), run, 12, prompts_per_batch=4)
    return run


def test_every_relation_has_a_versioned_template_and_examples() -> None:
    assert set(TEMPLATES) == {r.name for r in RELATIONS}
    examples = load_examples()
    for rel in RELATIONS:
        tpl = template_for(rel.name)
        assert tpl.id == f"{rel.name}@v1"
        ex = choose_examples(rel.name, "PersonX buys a car", 5)
        assert len(ex) == 5 and len(examples[rel.name]) >= 8
        prompt = tpl.render(ex, "PersonX buys a car")
        assert prompt.startswith(tpl.instruction)
        # the last line is the catalogue's sentence for the event, cut just before the tail
        assert (
            prompt.splitlines()[-1]
            == "6. " + rel.sentence.split("{tail}")[0].format(head="PersonX buys a car").rstrip()
        )
        assert all(f"{i}. " in prompt for i in range(1, 6))
    # the same event gets the same examples (a resumed run asks the same question), another seed others
    assert choose_examples("xWant", "PersonX runs", 5) == choose_examples("xWant", "personx  runs.", 5)
    assert choose_examples("xWant", "PersonX runs", 5) != choose_examples("xWant", "PersonX runs", 5, seed=1)


def test_parse_tail_and_filters() -> None:
    assert parse_tail(" to go home.\n12. PersonX eats") == "to go home"
    assert parse_tail(' "happy and relieved". Then PersonX sleeps') == "happy and relieved"
    assert parse_tail("\n") == ""
    assert tail_problem("PersonX runs", "") == "empty"
    assert tail_problem("PersonX runs", "none") == "none"
    assert tail_problem("PersonX runs", "PersonX runs") == "copies the event"
    assert tail_problem("PersonX runs", "to to go") == "repeated words"
    assert tail_problem("PersonX runs", "word " * 20) == "too long"
    assert tail_problem("PersonX runs", "to rest") is None


def test_generate_inferences_writes_loadable_triples(server: StubServer, run_with_events: Path) -> None:
    summary = generate_inferences(teacher(server), run_with_events, "xWant,xNeed,HinderedBy", 4)
    assert summary.complete and summary.pairs == summary.pairs_done == 36
    found = list(read_triples(triple_files(run_with_events)[0], errors=(errors := [])))
    assert not errors and len(found) == summary.triples == summary.new > 0
    keys = [n.triple.key for n in found]
    assert len(keys) == len(set(keys))  # deduplicated per event and relation
    t = found[0].triple
    assert t.sources == ["teacher"] and t.runs == [summary.run_id] and t.teachers == ["openai:stub-model"]
    assert t.prompts == [f"{t.relation}@v1"] and len(t.provenance["examples"]) == 5
    assert t.provenance["decoding"]["n"] == 4 and t.provenance["logprob"] < 0 and "time" in t.provenance
    assert triple_files(run_with_events) == sorted(run_with_events.glob("triples-*.jsonl"))
    stage = json.loads((run_with_events / "manifest.json").read_text())["stages"]["inferences"]
    assert stage["status"] == "complete" and stage["pairs_done"] == 36
    assert summary.stats["accepted"] + summary.stats["rejected"] + summary.stats["duplicates"] == 36 * 4
    rejects = [json.loads(x) for x in (run_with_events / "rejects.jsonl").read_text().splitlines()]
    assert sum(r["stage"] == "inferences" for r in rejects) == summary.stats["rejected"]


def test_resume_inferences_after_a_cap_and_add_relations(
    server: StubServer, run_with_events: Path, tmp_path: Path
) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite")
    first = generate_inferences(
        teacher(server, budget=Budget(max_requests=10), concurrency=2),
        run_with_events,
        "xWant,xAttr",
        3,
        batch_pairs=4,
        cache=cache,
    )
    assert not first.complete and 0 < first.pairs_done < 24
    second = generate_inferences(teacher(server), run_with_events, "xWant,xAttr", 3, batch_pairs=4, cache=cache)
    assert second.complete and second.pairs_done == 24
    third = generate_inferences(teacher(server), run_with_events, "xWant,xAttr,oReact", 3, batch_pairs=4, cache=cache)
    assert third.complete and third.pairs == 36 and third.pairs_done == 36
    rows = [n.triple for n in read_triples(triple_files(run_with_events)[0])]
    assert len({t.key for t in rows}) == len(rows) == third.triples
    assert {t.relation for t in rows} == {"xWant", "xAttr", "oReact"}
    done = (run_with_events / "pairs-done.jsonl").read_text().splitlines()
    assert len(done) == len(set(done)) == 36
    before = server.state.requests
    again = generate_inferences(teacher(server), run_with_events, "xWant,xAttr,oReact", 3, cache=cache)
    assert again.new == 0 and server.state.requests == before  # a finished run asks nothing


def test_chat_mode_fill_in_the_blank_and_bad_inputs(server: StubServer, tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.write_text("PersonX buys ___ at the store\nPersonX walks to school\n")
    summary = generate_inferences(
        teacher(server, mode="chat"), tmp_path / "run", "isFilledBy,xIntent", 2, events=events
    )
    assert summary.pairs == 3  # isFilledBy only for the event with a blank
    with pytest.raises(InputError, match="no events"):
        generate_inferences(teacher(server), tmp_path / "empty", "xWant", 2)
    with pytest.raises(InputError, match="unknown relation"):
        generate_inferences(teacher(server), tmp_path / "run", "xWish", 2)
    with pytest.raises(InputError, match="per-pair"):
        generate_inferences(teacher(server), tmp_path / "run", "xWant", 0)


def test_infer_for_events_in_memory(server: StubServer) -> None:
    triples = infer_for_events(teacher(server), ["PersonX buys a car", "PersonX loses a key"], "xWant,xReact", 5)
    assert triples and {t.head for t in triples} <= {"PersonX buys a car", "PersonX loses a key"}
    assert all(t.sources == ["teacher"] and t.runs == [] and t.prompts[0].endswith("@v1") for t in triples)
    assert len({t.key for t in triples}) == len(triples)


def test_local_tiny_model_runs_both_stages(tmp_path: Path) -> None:
    """A random tiny GPT-2 writes nonsense: the run must count and keep it, never crash."""
    t = LocalTeacher.load(tiny_gpt2(tmp_path / "tiny"), Settings(), batch_size=4, seed=0)
    run = tmp_path / "run"
    events = generate_events(t, run, 5, prompts_per_batch=4, max_prompts=8, max_tokens=12)
    assert events.stats["prompts"] == 8 and not events.complete and "prompt limit" in (events.stopped or "")
    rejects = [json.loads(x) for x in (run / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == events.stats["rejected"] > 0 and all("raw" in r for r in rejects)
    inf = generate_inferences(t, run, "xWant", 2, events=["PersonX buys a car", "PersonX eats"], max_tokens=6)
    assert inf.complete and inf.stats["completions"] == 4
    assert inf.stats["accepted"] + inf.stats["rejected"] + inf.stats["duplicates"] == 4
    assert t.usage.requests == 8 + 2


def test_shards_split_the_pairs_and_together_make_one_run(
    server: StubServer, run_with_events: Path, tmp_path: Path
) -> None:
    from skd.ingest.run import Shard

    events = [
        json.loads(line)["event"]
        for p in sorted(run_with_events.glob("events-*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    whole = generate_inferences(teacher(server), tmp_path / "whole", "xWant,xNeed,HinderedBy", 2, events=events)
    parts = [
        generate_inferences(
            teacher(server), tmp_path / f"shard-{i}", "xWant,xNeed,HinderedBy", 2, events=events, shard=Shard(i, 3)
        )
        for i in (1, 2, 3)
    ]
    assert sum(p.pairs for p in parts) == whole.pairs and all(p.pairs > 0 for p in parts)

    def triples(folder: Path) -> list[tuple[object, ...]]:
        rows = [n.triple for f in triple_files(folder) for n in read_triples(f)]
        return sorted((t.head, t.relation, t.tail, tuple(t.prompts), tuple(t.teachers)) for t in rows)

    together = sorted(t for i in (1, 2, 3) for t in triples(tmp_path / f"shard-{i}"))
    assert together == triples(tmp_path / "whole")
    done = [
        {json.loads(line)["pair"] for line in (tmp_path / f"shard-{i}" / "pairs-done.jsonl").read_text().splitlines()}
        for i in (1, 2, 3)
    ]
    assert not (done[0] & done[1]) and not (done[1] & done[2]) and not (done[0] & done[2])  # no pair twice
    with pytest.raises(InputError, match="shard"):  # a folder keeps its shard
        generate_inferences(teacher(server), tmp_path / "shard-1", "xWant", 2, events=events, shard=Shard(2, 3))
    for bad in ("3", "0/3", "4/3", "a/b"):
        with pytest.raises(InputError, match="shard"):
            Shard.parse(bad)


def test_sharded_events_and_inferences_together_make_one_run(server: StubServer, tmp_path: Path) -> None:
    """N workers, each with its events shard and its inference shard over all the event shards merged, hold
    exactly the triples of one unsplit run of both stages."""
    from skd.ingest.run import Shard

    rels = "xWant,xNeed"
    generate_events(teacher(server), tmp_path / "events", 40, prompts_per_batch=4)
    whole = generate_inferences(teacher(server), tmp_path / "whole", rels, 2, events=tmp_path / "events")
    folders = [tmp_path / f"events-{i}" for i in (1, 2, 3)]
    for i, f in enumerate(folders, 1):
        generate_events(teacher(server), f, 40, prompts_per_batch=4, shard=Shard(i, 3), shard_margin=1.0)
    with pytest.raises(InputError, match="holds shard 1/3 of an events run"):  # one shard alone is not the run
        generate_inferences(teacher(server), folders[0], rels, 2)
    parts = [
        generate_inferences(teacher(server), tmp_path / f"inf-{i}", rels, 2, events=folders, shard=Shard(i, 3))
        for i in (1, 2, 3)
    ]
    assert sum(p.pairs for p in parts) == whole.pairs == 80

    def triples(folder: Path) -> list[tuple[object, ...]]:
        rows = [n.triple for f in triple_files(folder) for n in read_triples(f)]
        return sorted((t.head, t.relation, t.tail, tuple(t.prompts), tuple(t.teachers)) for t in rows)

    assert sorted(t for i in (1, 2, 3) for t in triples(tmp_path / f"inf-{i}")) == triples(tmp_path / "whole")


def test_a_stage_keeps_one_client_and_its_concurrency_while_asking_ahead(server: StubServer, tmp_path: Path) -> None:
    """The stage asks its next batch while one is answered, through one client (its connections kept) and
    one set of slots: never more requests in flight than the teacher's concurrency."""
    t = teacher(server, concurrency=3)
    made: list[object] = []
    real = t._client

    def counted() -> object:
        made.append(client := real())
        return client

    t._client = counted  # type: ignore[method-assign]
    server.state.max_in_flight, server.state.delay_s = 0, 0.02
    try:
        events = [f"PersonX paints fence number {i}" for i in range(12)]
        summary = generate_inferences(t, tmp_path / "run", "xWant,xNeed", 1, events=events, batch_pairs=4)
    finally:
        server.state.delay_s = 0.0
    assert summary.complete and summary.pairs_done == 24
    assert len(made) == 1 and server.state.max_in_flight == 3
    assert t._sessions == {}  # the session ended with the stage
