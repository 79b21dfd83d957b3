"""Everyday sentences read as ATOMIC events, rule by rule (graph_schema.everyday's docstring)."""

from __future__ import annotations

import pytest

from skd.graph_schema.everyday import normalise_event


@pytest.mark.parametrize(
    ("sentence", "event"),
    [
        # rule 1 and 2: the subject is PersonX, the verb the third person present
        ("I lent my neighbour a ladder", "PersonX lends PersonY a ladder"),
        ("she forgot her keys", "PersonX forgets PersonX's keys"),
        ("Alice called Bob.", "PersonX calls PersonY"),
        ("I am tired", "PersonX is tired"),
        ("She's angry at her boss", "PersonX is angry at PersonY"),
        ("I was running late", "PersonX is running late"),
        ("they always forget their lunch", "PersonX always forgets PersonX's lunch"),
        # auxiliaries fold into the verb; a negation stays
        ("I have lost my keys", "PersonX loses PersonX's keys"),
        ("I didn't sleep well", "PersonX does not sleep well"),
        ("he never calls his mother", "PersonX never calls PersonY"),
        # rule 3: the subject's own possessive and reflexive
        ("I hurt myself", "PersonX hurts PersonX"),
        ("we painted our house", "PersonX paints PersonX's house"),
        # rule 4: other people, PersonY then PersonZ, a person's possessive kept
        ("he hugged her", "PersonX hugs PersonY"),
        ("I gave her the book", "PersonX gives PersonY the book"),
        ("I borrowed my sister's car", "PersonX borrows PersonY's car"),
        ("I introduced my brother to my boss", "PersonX introduces PersonY to PersonZ"),
        ("I took his pen", "PersonX takes PersonY's pen"),
    ],
)
def test_everyday_sentences_become_atomic_events(sentence: str, event: str) -> None:
    reading = normalise_event(sentence)
    assert reading.text == event
    assert reading.changed and reading.changes[0].endswith("as PersonX")


def test_each_change_is_reported() -> None:
    assert normalise_event("I lent my neighbour a ladder").changes == [
        "read 'I' as PersonX",
        "read 'lent' as 'lends'",
        "read 'my neighbour' as PersonY",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "PersonX buys a car",  # already ATOMIC's form
        "PersonX gives PersonY a gift",
        "The cat sat on the mat",  # no person subject it can read: left as it is
        "my friend's car broke down",
        "Yesterday I ran",
    ],
)
def test_what_it_cannot_read_is_left_alone(text: str) -> None:
    reading = normalise_event(text)
    assert reading.text == text and not reading.changed


def test_only_cleaning_for_an_event_already_in_form() -> None:
    assert normalise_event("  personx buys a car.  ").text == "PersonX buys a car"
