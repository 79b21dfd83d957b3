"""Versioned few-shot prompt templates: one for events, one per relation (all 23), and their example pools.

A template's id is `<name>@<version>` and is recorded on every triple it produced; change a template's
wording and bump its version, so triples from the old and the new wording stay distinguishable.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from skd.core.errors import InputError
from skd.graph_schema.relations import RELATIONS, Relation, get_relation
from skd.graph_schema.text import clean_text, text_key

__all__ = [
    "EVENTS_TEMPLATE",
    "TEMPLATES",
    "EventsTemplate",
    "Example",
    "InferenceTemplate",
    "SeedEvent",
    "choose_examples",
    "load_examples",
    "load_seed_events",
    "template_for",
]


@dataclass(frozen=True, slots=True)
class SeedEvent:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Example:
    """One few-shot example of a relation: an ATOMIC 2020 triple (or one of ours where ATOMIC's sample has none)."""

    id: str
    relation: str
    head: str
    tail: str


def stable_rng(*parts: object) -> random.Random:
    """A random generator seeded by its arguments, the same in every process (unlike `hash`)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True, slots=True)
class EventsTemplate:
    """A numbered list of example events; the model continues the list with new ones."""

    version: str
    instruction: str
    name: str = "events"

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, examples: Sequence[str]) -> str:
        lines = [self.instruction, ""]
        lines += [f"{i}. {e}" for i, e in enumerate(examples, start=1)]
        lines.append(f"{len(examples) + 1}.")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class InferenceTemplate:
    """A relation's prompt: its instruction, numbered examples verbalised with the relation catalogue's
    sentence, and the event with the sentence cut just before the tail for the model to finish."""

    relation: str
    version: str
    instruction: str

    @property
    def id(self) -> str:
        return f"{self.relation}@{self.version}"

    @property
    def rel(self) -> Relation:
        return get_relation(self.relation)

    def lead(self, head: str) -> str:
        """The sentence up to its tail: "PersonX buys a car. As a result, PersonX wants"."""
        before = self.rel.sentence.split("{tail}")[0]
        return before.format(head=clean_text(head)).rstrip()

    def line(self, head: str, tail: str) -> str:
        return f"{self.lead(head)} {clean_text(tail)}."

    def render(self, examples: Sequence[Example], event: str) -> str:
        lines = [self.instruction, ""]
        lines += [f"{i}. {_example_line(self, x)}" for i, x in enumerate(examples, start=1)]
        lines.append(f"{len(examples) + 1}. {self.lead(event)}")
        return "\n".join(lines)


@lru_cache(maxsize=8192)
def _example_line(template: InferenceTemplate, example: Example) -> str:
    """An example's line in a template, worked out once: the few-shot pools are small and every prompt
    of a run shows five of them (cleaning their text each time was most of the cost of making a prompt)."""
    return template.line(example.head, example.tail)


EVENTS_TEMPLATE = EventsTemplate(
    version="v1",
    instruction="A list of everyday events. Each names PersonX, sometimes PersonY, and is one short sentence.",
)

_INSTRUCTIONS: dict[str, str] = {
    "xIntent": "Why people do things: each event, then what PersonX intended by it.",
    "xNeed": "What has to happen first: each event, then what PersonX needed to do before it.",
    "xAttr": "How people are seen: each event, then how PersonX is seen because of it.",
    "xEffect": "Consequences for the actor: each event, then what happens to PersonX as a result.",
    "xReact": "Feelings: each event, then how PersonX feels afterwards.",
    "xWant": "Next steps: each event, then what PersonX wants to do afterwards.",
    "oEffect": "Consequences for others: each event, then what happens to the other people involved.",
    "oReact": "Feelings of others: each event, then how the other people involved feel afterwards.",
    "oWant": "What others want next: each event, then what the other people involved want to do afterwards.",
    "isAfter": "Order of events: each event, then something that happened just before it.",
    "isBefore": "Order of events: each event, then something that happens just after it.",
    "HinderedBy": "Obstacles: each event, then a situation that would have stopped it from happening.",
    "Causes": "Causes and effects: each thing or event, then what it causes.",
    "xReason": "Reasons: each action, then the reason for doing it.",
    "HasSubEvent": "Steps: each activity, then one step it includes.",
    "isFilledBy": "Fill in the blank: each event has a blank (___), then a word or phrase that fits the blank.",
    "ObjectUse": "Uses of things: each object, then something it is used for.",
    "AtLocation": "Where things are: each object, then a place where it is found.",
    "MadeUpOf": "Parts and materials: each thing, then something it is made up of.",
    "HasProperty": "Properties: each thing, then a property it has.",
    "CapableOf": "Abilities: each thing or kind of person, then something it is capable of.",
    "Desires": "Desires: each kind of being, then something it desires.",
    "NotDesires": "Aversions: each kind of being, then something it does not desire.",
}

#: The current template of every relation, by relation name.
TEMPLATES: dict[str, InferenceTemplate] = {
    r.name: InferenceTemplate(relation=r.name, version="v1", instruction=_INSTRUCTIONS[r.name]) for r in RELATIONS
}


def template_for(relation: str | Relation) -> InferenceTemplate:
    name = relation.name if isinstance(relation, Relation) else get_relation(relation).name
    return TEMPLATES[name]


def _data_file(name: str) -> Path:
    return Path(str(resources.files("skd.ingest").joinpath("data", name)))


@lru_cache(maxsize=1)
def load_examples() -> dict[str, tuple[Example, ...]]:
    """The bundled few-shot examples, by relation."""
    pool: dict[str, list[Example]] = {r.name: [] for r in RELATIONS}
    with _data_file("fewshot.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                pool[row["relation"]].append(Example(row["id"], row["relation"], row["head"], row["tail"]))
    return {k: tuple(v) for k, v in pool.items()}


@lru_cache(maxsize=64)
def _keyed_examples(relation: str) -> tuple[tuple[str, Example], ...]:
    """A relation's examples with their heads' keys, worked out once instead of once per prompt."""
    return tuple((text_key(x.head), x) for x in load_examples()[get_relation(relation).name])


def choose_examples(relation: str, event: str, k: int, seed: int | str = 0) -> list[Example]:
    """`k` examples of a relation for an event, the same ones every time for the same event and seed
    (so a resumed run asks the same question and the request cache answers it)."""
    key = text_key(event)
    pool = [x for head, x in _keyed_examples(relation) if head != key]
    rng = stable_rng(seed, relation, key)
    return rng.sample(pool, min(k, len(pool)))


def load_seed_events(path: Path | str | None = None) -> list[SeedEvent]:
    """Seed events for event prompts: the bundled ATOMIC 2020 heads, or a user file (.txt one event per
    line, .tsv whose first column is the event, or .jsonl with an `event`, `head` or `text` field)."""
    src = Path(path) if path is not None else _data_file("seed_events.txt")
    try:
        raw = src.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read seed events file {src}: {e.strerror}") from e
    out: list[SeedEvent] = []
    seen: set[str] = set()
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        text = line
        if src.suffix.lower() in (".jsonl", ".json", ".ndjson"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{src}:{number}: invalid JSON: {e.msg}") from e
            text = next((row[k] for k in ("event", "head", "text") if isinstance(row.get(k), str)), "")
            if not text:
                raise InputError(f"{src}:{number}: no 'event', 'head' or 'text' field")
        elif src.suffix.lower() == ".tsv":
            text = line.split("\t")[0]
        text = clean_text(text)
        if text and text_key(text) not in seen:
            seen.add(text_key(text))
            out.append(SeedEvent(id=f"seed:{number}" if path is not None else f"atomic2020-seed:{number}", text=text))
    if len(out) < 2:
        raise InputError(f"seed events file {src} has {len(out)} usable event(s); at least 2 are needed")
    return out
