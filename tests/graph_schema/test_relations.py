from __future__ import annotations

import pytest

from skd.core.errors import InputError
from skd.graph_schema.relations import (
    BY_NAME,
    PAPER_RELATIONS,
    RELATIONS,
    Category,
    Subject,
    get_relation,
    parse_relations,
)


def test_catalogue_has_atomic2020s_23_relations_with_unique_names_and_types() -> None:
    assert len(RELATIONS) == 23
    assert len({r.name for r in RELATIONS}) == 23
    assert len({r.rel_type for r in RELATIONS}) == 23
    counts = {c: sum(r.category is c for r in RELATIONS) for c in Category}
    assert counts == {Category.SOCIAL: 9, Category.EVENT: 7, Category.PHYSICAL: 7}


def test_subjects_follow_the_relation_prefix() -> None:
    assert {r.subject for r in RELATIONS if r.name.startswith("x") and r.category is Category.SOCIAL} == {
        Subject.PERSON_X
    }
    assert {r.subject for r in RELATIONS if r.name.startswith("o")} == {Subject.OTHERS}
    assert BY_NAME["HinderedBy"].subject is Subject.NONE


def test_relationship_types_are_upper_snake_case() -> None:
    assert BY_NAME["xWant"].rel_type == "X_WANT"
    assert BY_NAME["HinderedBy"].rel_type == "HINDERED_BY"
    assert all(r.rel_type.replace("_", "").isalpha() and r.rel_type.isupper() for r in RELATIONS)


def test_verbalise_makes_a_sentence_from_head_and_tail() -> None:
    s = BY_NAME["xWant"].verbalise("PersonX buys a new car.", "to drive it")
    assert s == "PersonX buys a new car. As a result, PersonX wants to drive it."


def test_lookup_is_case_insensitive_and_accepts_graph_types() -> None:
    assert get_relation("xwant") is BY_NAME["xWant"]
    assert get_relation("HINDERED_BY") is BY_NAME["HinderedBy"]


def test_unknown_relation_names_the_bad_value() -> None:
    with pytest.raises(InputError, match="'xWants'"):
        get_relation("xWants")


def test_parse_relations_lists_paper_and_all() -> None:
    assert [r.name for r in parse_relations("xWant, xNeed,xWant")] == ["xWant", "xNeed"]
    assert [r.name for r in parse_relations("paper")] == list(PAPER_RELATIONS)
    assert len(parse_relations("all")) == 23
    with pytest.raises(InputError):
        parse_relations(",")
