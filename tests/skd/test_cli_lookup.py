"""Lookups from the shell against the real graph (`skd query`, `skd search`, `skd complete`), the version,
and failures that end as one line and a non-zero exit code."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from skd.graph_schema.records import make_triple
from skd.graph_schema.store import GraphStore
from tests.tiny_models import tiny_gpt2


def _skd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skd.cli", *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )


@pytest.fixture
def graph(store: GraphStore) -> GraphStore:
    store.upsert(
        [
            make_triple("PersonX buys a car", "xWant", "to drive it", score=0.9, sources=["teacher"]),
            make_triple("PersonX buys a car", "xNeed", "money", score=0.6, sources=["atomic2020"]),
            make_triple("PersonX buys a car", "xReact", "happy", sources=["atomic2020"]),
            make_triple("PersonX sells a car", "xWant", "to get money", score=0.4, sources=["teacher"]),
        ]
    )
    return store


def test_query_lists_an_events_inferences_best_first_with_filters(graph: GraphStore) -> None:
    got = _skd("query", "  personx BUYS a car ", "--json")
    assert got.returncode == 0, got.stderr
    found = json.loads(got.stdout)
    assert found["event"] == "PersonX buys a car" and found["in_graph"] is True
    assert [(i["relation"], i["inference"], i["score"]) for i in found["inferences"]] == [
        ("xWant", "to drive it", 0.9),
        ("xNeed", "money", 0.6),
        ("xReact", "happy", None),  # unscored last
    ]
    only = json.loads(_skd("query", "PersonX buys a car", "-r", "xNeed", "-r", "xReact", "--json").stdout)
    assert [i["relation"] for i in only["inferences"]] == ["xNeed", "xReact"]
    scored = json.loads(_skd("query", "PersonX buys a car", "--min-score", "0.7", "--json").stdout)
    assert [i["inference"] for i in scored["inferences"]] == ["to drive it"]
    table = _skd("query", "PersonX buys a car")
    assert table.returncode == 0 and "to drive it" in table.stderr + table.stdout


def test_query_of_an_unknown_event_or_relation_says_so(graph: GraphStore) -> None:
    missing = _skd("query", "PersonX flies to the moon")
    assert missing.returncode == 1 and "not in the graph" in missing.stderr
    bad = _skd("query", "PersonX buys a car", "-r", "xWhatever")
    assert bad.returncode == 2 and "xWhatever" in bad.stderr and "Traceback" not in bad.stderr


def test_search_finds_events_by_words(graph: GraphStore) -> None:
    got = json.loads(_skd("search", "car", "--json").stdout)
    assert got["total"] == 2 and {e["event"] for e in got["events"]} == {"PersonX buys a car", "PersonX sells a car"}
    assert json.loads(_skd("search", "NOT", "--json").stdout)["total"] == 0  # a Lucene word is a plain word


def test_complete_answers_from_the_graph_and_the_student(graph: GraphStore, tmp_path: Path) -> None:
    graph_only = json.loads(_skd("complete", "PersonX buys a car", "-r", "xWant", "--json").stdout)
    assert graph_only["notice"] and "no student" in graph_only["notice"]
    assert [(i["inference"], i["origin"]) for i in graph_only["inferences"]] == [("to drive it", "GRAPH")]
    paper = json.loads(_skd("complete", "PersonX buys a car", "--json").stdout)  # the paper's 7 by default
    assert {i["relation"] for i in paper["inferences"]} == {"xWant", "xNeed", "xReact"}
    student = tiny_gpt2(tmp_path / "student")
    both = _skd("complete", "PersonX buys a car", "-r", "xWant", "-r", "xIntent", "--student", str(student), "--json")
    assert both.returncode == 0, both.stderr
    rows = json.loads(both.stdout)["inferences"]
    assert [(i["relation"], i["origin"]) for i in rows if i["origin"] == "GRAPH"] == [("xWant", "GRAPH")]
    live = [i for i in rows if i["origin"] == "STUDENT"]
    assert live and {i["relation"] for i in live} == {"xIntent"}  # the student fills only what the graph lacks
    assert all(i["inference"] and i["logprob"] < 0 for i in live)


def test_version_and_one_line_failures(graph: GraphStore, tmp_path: Path) -> None:
    from skd import __version__

    assert _skd("--version").stdout.strip() == f"skd {__version__}"
    missing = _skd("export", "--out", str(tmp_path / "no" / "such" / "folder" / "x.jsonl"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    (tmp_path / "a-folder.jsonl").mkdir()
    refused = _skd("export", "--out", str(tmp_path / "a-folder.jsonl"))  # the system refuses: not ours
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert len([line for line in refused.stderr.splitlines() if line.startswith("error:")]) == 1


def test_complete_reads_an_everyday_sentence(graph: GraphStore) -> None:
    graph.upsert([make_triple("PersonX buys PersonY a car", "xWant", "to surprise PersonY", score=0.8)])
    got = json.loads(_skd("complete", "I bought my wife a car", "-r", "xWant", "--json").stdout)
    assert got["input"] == "I bought my wife a car" and got["event"] == "PersonX buys PersonY a car"
    assert got["interpretation"][0] == "read 'I' as PersonX" and got["in_graph"] is True
    assert [i["inference"] for i in got["inferences"]] == ["to surprise PersonY"]
    written = json.loads(_skd("complete", "I bought my wife a car", "--as-written", "--json").stdout)
    assert written["event"] == "I bought my wife a car" and written["in_graph"] is False


def test_serve_with_two_workers_answers_on_one_port(graph: GraphStore, tmp_path: Path) -> None:
    import time

    import httpx

    from skd.cli.common import console
    from skd.cli.pipeline import print_try_it, try_query
    from tests.service.conftest import free_port

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "skd.cli", "serve", "--port", str(port), "--workers", "2"],
            env=os.environ.copy(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        query = {"query": '{ event(text: "PersonX buys a car") { inferences { totalCount } } }'}
        answers = [httpx.post(f"{url}/graphql", json=query, timeout=30).json() for _ in range(6)]
        assert all(a == {"data": {"event": {"inferences": {"totalCount": 3}}}} for a in answers)
        # the query and the curl command the demo prints for users to try run as printed
        query = try_query('PersonX buys "a" car')
        with console.capture() as printed:
            print_try_it(f"{url}/graphql", query)
        lines = printed.get().splitlines()
        assert f"  {query}" in lines  # nothing taken for markup, nothing wrapped
        curl = shlex.split(next(line for line in lines if line.lstrip().startswith("curl ")))
        body = json.loads(curl[curl.index("-d") + 1])
        assert body == {"query": query} and curl[curl.index("-s") + 1] == f"{url}/graphql"
        demo = httpx.post(curl[curl.index("-s") + 1], json=body, timeout=60).json()
        assert "errors" not in demo and demo["data"]["complete"]["event"] == 'PersonX buys "a" car'
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert "Started parent process" in log.read_text()  # uvicorn's supervisor of the two workers
