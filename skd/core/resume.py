"""Where an interrupted job stopped: one note, written atomically after each step that committed, read back by
the next run, removed when the job is done.

Loading a file into the graph and scoring a file in place both resume this way (the note holds the last
input line whose batch committed, and for scoring the output's length at that moment). A missing,
unreadable or foreign note means: start from the beginning, which is always safe because every step
is idempotent (a MERGE, or rows rewritten from the recorded offset on). Generation runs resume from
their own records (the run folder's manifest and shards), a student's training from its checkpoint,
and the pipeline from its per-stage state, each because what they resume is more than a position.
"""

from __future__ import annotations

import json
from pathlib import Path

from skd.core.files import write_json

__all__ = ["ResumeNote"]


class ResumeNote:
    """A position (named integers such as `line` and `offset`) kept in a small JSON file."""

    def __init__(self, path: Path, keys: tuple[str, ...] = ("line",)) -> None:
        self.path = path
        self.keys = keys

    def read(self) -> dict[str, int] | None:
        """The saved position, or None when there is none to trust."""
        try:
            note = json.loads(self.path.read_text(encoding="utf-8"))
            position = {k: int(note[k]) for k in self.keys}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return position if all(v >= 0 for v in position.values()) else None

    def save(self, **position: int) -> None:
        if set(position) != set(self.keys):
            raise ValueError(f"a resume note of {self.keys} was given {tuple(position)}")
        write_json(self.path, position, indent=None)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
