"""Reading and writing triples: ATOMIC 2020's TSV (`head<TAB>relation<TAB>tail`) and our JSONL.

Readers never stop at a malformed line unless asked to: each bad line becomes a `LineError` naming
the file and line number, and the good lines keep flowing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from skd.core.errors import InputError
from skd.graph_schema.records import Triple, make_triple, triple_from_json

TSV_SUFFIXES = (".tsv", ".txt", ".csv")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True, slots=True)
class LineError:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Numbered:
    """A parsed triple and where it came from (file, 1-based line)."""

    path: str
    line: int
    triple: Triple


def _parse_tsv(text: str, source: str) -> tuple[Triple, None]:
    cols = text.split("\t")
    if len(cols) != 3:
        raise InputError(f"expected 3 tab-separated columns (head, relation, tail), found {len(cols)}")
    return make_triple(cols[0], cols[1], cols[2], sources=[source]), None


def _parse_jsonl(text: str, source: str) -> tuple[Triple, dict[str, Any]]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}") from e
    return triple_from_json(obj, default_source=source), obj


def file_format(path: Path) -> str:
    """`tsv` or `jsonl`, from the file's suffix."""
    suffix = path.suffix.lower()
    if suffix in TSV_SUFFIXES:
        return "tsv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    raise InputError(f"{path}: unknown triples format {suffix!r} (use .tsv or .jsonl)")


@dataclass(frozen=True, slots=True)
class Row:
    """One non-blank line of a triples file: its text, its triple (None when malformed) and, for JSONL,
    every field the producer wrote."""

    line: int
    text: str
    triple: Triple | None
    fields: dict[str, Any] | None


def read_rows(
    path: Path,
    source: str | None = None,
    strict: bool = False,
    errors: list[LineError] | None = None,
    start_line: int = 0,
) -> Iterator[Row]:
    """Every non-blank line of one file, parsed; a bad line is recorded in `errors` (or raised, with
    `strict`) and still yielded, with no triple, so a rewriter can keep it as it was.

    `source` defaults to `atomic2020` for TSV and to the row's own field (else `import`) for JSONL.
    Lines up to `start_line` are skipped unparsed.
    """
    fmt = file_format(path)
    parse: Callable[[str, str], tuple[Triple, dict[str, Any] | None]] = _parse_tsv if fmt == "tsv" else _parse_jsonl
    src = source or ("atomic2020" if fmt == "tsv" else "import")
    try:
        handle: IO[str] = path.open(encoding="utf-8", newline="")
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from e
    with handle:
        for number, raw in enumerate(handle, start=1):
            if number <= start_line:
                continue
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                triple, fields = parse(text, src)
            except InputError as e:
                err = LineError(str(path), number, str(e))
                if strict:
                    raise InputError(str(err)) from e
                if errors is not None:
                    errors.append(err)
                yield Row(number, text, None, None)
                continue
            yield Row(number, text, triple, fields)


def read_triples(
    path: Path,
    source: str | None = None,
    strict: bool = False,
    errors: list[LineError] | None = None,
    start_line: int = 0,
) -> Iterator[Numbered]:
    """The triples of one file with their line numbers, skipping (and recording) bad lines; see `read_rows`."""
    for row in read_rows(path, source, strict, errors, start_line):
        if row.triple is not None:
            yield Numbered(str(path), row.line, row.triple)


def triple_files(path: Path) -> list[Path]:
    """The triples files at `path`: the file itself, or a folder's TSV/JSONL files (a run folder's
    `triples*.jsonl` shards when it has them), sorted so every load reads them in the same order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    shards = sorted(p for p in path.rglob("triples*.jsonl") if p.is_file())
    if shards:
        return shards
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TSV_SUFFIXES + JSONL_SUFFIXES)
    if not files:
        raise InputError(f"{path}: no .tsv or .jsonl triples files in this folder")
    return files


def write_tsv(triples: Iterable[Triple], out: IO[str]) -> int:
    n = 0
    for t in triples:
        out.write(f"{t.head}\t{t.relation}\t{t.tail}\n")
        n += 1
    return n


def write_jsonl(triples: Iterable[Triple], out: IO[str]) -> int:
    n = 0
    for t in triples:
        out.write(json.dumps(t.to_json(), ensure_ascii=False) + "\n")
        n += 1
    return n
