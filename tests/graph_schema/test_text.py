from __future__ import annotations

from skd.graph_schema.text import clean_text, is_none_tail, text_key


def test_clean_text_unifies_person_spelling_space_and_trailing_punctuation() -> None:
    assert clean_text("  person x   gives Person Y a gift. ") == "PersonX gives PersonY a gift"
    assert clean_text("personx eats!!") == "PersonX eats"
    assert clean_text("- PersonX runs") == "PersonX runs"


def test_keys_make_spelling_variants_one_node() -> None:
    assert text_key("PersonX buys a car.") == text_key("person x  buys a CAR")
    assert text_key("PersonX buys a car") != text_key("PersonY buys a car")


def test_none_tail_is_recognised() -> None:
    assert is_none_tail("none")
    assert is_none_tail(" None. ")
    assert not is_none_tail("nonetheless")
