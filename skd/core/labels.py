"""The acceptability scale of the ATOMIC 2020 and Symbolic Knowledge Distillation human evaluations."""

from __future__ import annotations

from enum import IntEnum

from skd.core.errors import InputError

__all__ = ["SCALE", "SKIP", "Label", "label_value"]


class Label(IntEnum):
    """One judgment of a triple: 2 and 1 are acceptable, -1 and -2 are not, -9 means it could not be judged."""

    ALWAYS = 2  # always or often true
    SOMETIMES = 1  # sometimes or likely true
    FARFETCHED = -1  # farfetched or never true
    INVALID = -2  # invalid: not an inference of this kind at all
    SKIP = -9  # could not judge; left out of training and evaluation

    @property
    def acceptable(self) -> bool | None:
        return None if self is Label.SKIP else self > 0


SKIP = int(Label.SKIP)
SCALE = tuple(int(label) for label in Label)


def label_value(value: object) -> int:
    """A label on the scale from an integer on it or a boolean (True is 1, False is -1)."""
    if isinstance(value, bool):
        return 1 if value else -1
    if isinstance(value, int | float) and float(value).is_integer() and int(value) in SCALE:
        return int(value)
    raise InputError(f"label {value!r} is not on the scale (2, 1 acceptable; -1, -2 not; -9 skip) nor a boolean")
