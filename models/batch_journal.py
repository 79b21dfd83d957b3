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
import re
import uuid
from pathlib import Path
from typing import Any, Protocol

from skd.core.errors import TeacherError
from skd.core.files import write_text

__all__ = ["BatchJournal", "FileJournal", "IdsCache", "MemoryJournal", "journal_json"]

#: a list of custom_ids (by `id()`), its length and its JSON, kept while the list is recorded
IdsCache = dict[int, tuple[list[str], int, str]]


def journal_json(obj: dict[str, Any], key: str, cache: IdsCache) -> str:
    """`obj` as indented JSON, as `write_json` writes it, except that the `custom_ids` of each record in
    `obj[key]` are written on one line and encoded once per list: a record's ids never change once it is
    made, and encoding 100,000 of them again was most of the cost of every write of the journal, which
    happens after every change of every batch."""
    records = obj.get(key)
    if not isinstance(records, list):
        return json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"
    token = uuid.uuid4().hex  # a mark no text in the journal can hold by chance
    texts: list[str] = []
    kept: IdsCache = {}
    shallow = []
    for rec in records:
        ids = rec.get("custom_ids") if isinstance(rec, dict) else None
        if isinstance(ids, list):
            hit = cache.get(id(ids))
            if hit is None or hit[0] is not ids or hit[1] != len(ids):
                hit = (ids, len(ids), json.dumps(ids, ensure_ascii=False, default=str))
            kept[id(ids)] = hit
            rec = {**rec, "custom_ids": f"{token}:{len(texts)}"}
            texts.append(hit[2])
        shallow.append(rec)
    cache.clear()
    cache.update(kept)
    small = json.dumps({**obj, key: shallow}, indent=2, ensure_ascii=False, default=str)
    return re.sub(f'"{token}:(\\d+)"', lambda m: texts[int(m.group(1))], small) + "\n"


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
        self._ids: IdsCache = {}

    def load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        try:
            batches = json.loads(self.path.read_text(encoding="utf-8")).get("batches", [])
        except (json.JSONDecodeError, AttributeError) as e:
            raise TeacherError(f"{self.path} is not a batch journal ({e})") from e
        return list(batches)

    def save(self, records: list[dict[str, Any]]) -> None:
        write_text(self.path, journal_json({"batches": records}, "batches", self._ids))
