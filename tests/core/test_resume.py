"""The one resume note that loading and scoring keep."""

from __future__ import annotations

from pathlib import Path

import pytest

from skd.core.resume import ResumeNote


def test_a_note_round_trips_and_is_cleared(tmp_path: Path) -> None:
    note = ResumeNote(tmp_path / "n" / "pos.json", ("line", "offset"))
    assert note.read() is None  # nothing saved: start from the beginning
    note.save(line=40, offset=1234)
    assert note.read() == {"line": 40, "offset": 1234}
    note.save(line=80, offset=2468)
    assert ResumeNote(note.path, ("line", "offset")).read() == {"line": 80, "offset": 2468}  # another process
    note.clear()
    assert note.read() is None and not note.path.exists()
    note.clear()  # clearing twice is fine


@pytest.mark.parametrize("content", ["", "{", '{"line": "x"}', '{"line": -3}', '["line", 4]', '{"other": 1}'])
def test_an_untrustworthy_note_means_starting_over(tmp_path: Path, content: str) -> None:
    path = tmp_path / "pos.json"
    path.write_text(content)
    assert ResumeNote(path).read() is None


def test_a_note_takes_exactly_its_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="was given"):
        ResumeNote(tmp_path / "pos.json", ("line", "offset")).save(line=3)
