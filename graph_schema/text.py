"""Normalising event and inference text, and the keys that make the same text one node."""

from __future__ import annotations

import re

NONE_TAIL = "none"

_PERSON = re.compile(r"\b(?:person|people)\s*([xyz])\b|\bperson([xyz])\b", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s.,;:!?]+$")
_LEADING = re.compile(r"^[\s\-–•*\"']+")


def _person(match: re.Match[str]) -> str:
    letter = (match.group(1) or match.group(2)).upper()
    return f"Person{letter}"


def clean_text(text: str) -> str:
    """Display form: PersonX/PersonY spelled one way, white space collapsed, trailing punctuation gone."""
    text = _SPACE.sub(" ", text).strip()
    text = _PERSON.sub(_person, text)
    text = _LEADING.sub("", text)
    return _TRAILING.sub("", text).strip()


def text_key(text: str) -> str:
    """The node key: the cleaned text in lower case. Equal keys are the same event or inference."""
    return clean_text(text).lower()


def is_none_tail(text: str) -> bool:
    """ATOMIC's `none` tail: an annotator judged that nothing follows."""
    return text_key(text) == NONE_TAIL
