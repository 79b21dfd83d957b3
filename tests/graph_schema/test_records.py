"""`Triple.to_json`: what `asdict` gave, empty fields left out, a copy the caller may change."""

from __future__ import annotations

from dataclasses import asdict

from skd.graph_schema.records import Triple, make_triple


def test_to_json_is_a_deep_copy_as_asdict_gives() -> None:
    t = make_triple(
        "PersonX buys a car",
        "xWant",
        "to drive it",
        sources=["teacher"],
        runs=["r1"],
        teachers=["openai:m"],
        prompts=["xWant@v1"],
        provenance={"examples": ["a", "b"], "decoding": {"n": 2, "stop": ["\n"]}, "logprob": None, "pair": ("x", 1)},
    )
    expected = {k: v for k, v in asdict(t).items() if v not in (None, {}, "", [])}
    got = t.to_json()
    assert got == expected and list(got) == list(expected)
    got["provenance"]["decoding"]["stop"].append("\n\n")
    got["sources"].append("student")
    assert t.provenance["decoding"]["stop"] == ["\n"] and t.sources == ["teacher"]  # the triple is untouched
    assert Triple("a", "xWant", "b", score=0.0).to_json() == {
        "head": "a",
        "relation": "xWant",
        "tail": "b",
        "score": 0.0,
        "sources": ["import"],
    }
