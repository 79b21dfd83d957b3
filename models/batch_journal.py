"""Where an `openai-batch:` teacher records its Batch API jobs, so that a later process finds them again.

A record is one JSON object per batch input file: `input_file_id`, `batch_id` (None between the upload
and the answer to `batches.create`), `status` (the API's, or `uploaded` / `abandoned`), `custom_ids` (the
requests it holds, in order), `attempt`, `requests`, `bytes`, and once it has ended `output_file_id`,
`error_file_id`, `request_counts`, `answered`, `failed`, `processed` and `usage`. The teacher owns the
list `load` returns, changes it, and calls `save` after every change. A generation stage gives it the
run folder's manifest (`skd.ingest.run.ManifestJournal`); these two serve everything else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from skd.core.errors import TeacherError
from skd.core.files import write_json

__all__ = ["BatchJournal", "FileJournal", "MemoryJournal"]


class BatchJournal(Protocol):
    """A list of batch records: `load` once, then `save` the whole list, atomically, after each change."""

    def load(self) -> list[dict[str, Any]]: ...

    def save(self, records: list[dict[str, Any]]) -> None: ...


class MemoryJournal:
    """Records kept in this process only (no run folder): a killed process cannot resume its batches."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def load(self) -> list[dict[str, Any]]:
        return self.records

    def save(self, records: list[dict[str, Any]]) -> None:
        self.records = records


class FileJournal:
    """Records in a JSON file of their own (`{"batches": [...]}`), rewritten atomically."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        try:
            batches = json.loads(self.path.read_text(encoding="utf-8")).get("batches", [])
        except (json.JSONDecodeError, AttributeError) as e:
            raise TeacherError(f"{self.path} is not a batch journal ({e})") from e
        return list(batches)

    def save(self, records: list[dict[str, Any]]) -> None:
        write_json(self.path, {"batches": records})
