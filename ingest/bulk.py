"""Bulk first loads: an empty local Neo4j filled by `neo4j-admin database import full` from CSV files.

Far faster than the online load for a first load of millions of triples, and the same graph: the files
are read as `skd load` reads them and merged as the online load merges them. The database must be
empty (checked before anything is touched); the server is stopped for the import and started again,
on the same port, with the schema ensured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from skd.core.errors import ConfigError, InputError
from skd.core.settings import Settings
from skd.graph_schema.connect import connect, embedded_server
from skd.graph_schema.neo4j_import import ImportBuilder, ImportFiles
from skd.graph_schema.neo4j_local import DATABASE, EmbeddedNeo4j
from skd.graph_schema.triples_io import LineError, read_triples
from skd.ingest.load import files_to_load

#: progress(what, done, total); total is None while it is not known
BulkProgress = Callable[[str, int, int | None], None]


@dataclass
class BulkReport:
    files: list[str] = field(default_factory=list)
    read: int = 0
    events: int = 0
    inferences: int = 0
    triples: int = 0
    errors: list[LineError] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["bad_lines"] = len(self.errors)
        out["errors"] = [str(e) for e in self.errors[:100]]
        return out


def read_for_import(
    paths: Sequence[Path], everything: bool = False, strict: bool = False, progress: BulkProgress | None = None
) -> tuple[ImportBuilder, BulkReport]:
    """Every triple of `paths` (files, folders, run folders as `skd load` reads them), merged for import."""
    report = BulkReport()
    builder = ImportBuilder()
    for path in paths:
        for f in files_to_load(Path(path), everything):
            report.files.append(str(f))
            for n in read_triples(f, strict=strict, errors=report.errors):
                builder.add(n.triple)
                report.read += 1
                if progress and report.read % 100_000 == 0:
                    progress("reading", report.read, None)
    if not builder.rows:
        raise InputError(f"{', '.join(str(p) for p in paths)}: nothing to load")
    return builder, report


def _local_neo4j(settings: Settings) -> EmbeddedNeo4j:
    if not settings.embedded or settings.graph_backend != "neo4j":
        raise ConfigError(
            "--bulk fills the local Neo4j (SKD_GRAPH_BACKEND=neo4j, SKD_GRAPH_URI unset); for a server of your "
            "own, write the files with `skd export --format neo4j-import DIR` and run its neo4j-admin"
        )
    server = embedded_server(settings)
    assert isinstance(server, EmbeddedNeo4j)
    return server


def _require_empty(settings: Settings) -> None:
    with connect(settings) as store:
        stats = store.stats()
    if stats["events"] or stats["inferences"]:
        raise InputError(
            f"the local Neo4j already holds {stats['events']:,} events and {stats['inferences']:,} inferences: "
            "--bulk only fills an empty database (load online with `skd load`, or empty it with `skd db reset`)"
        )


def bulk_load(
    settings: Settings,
    paths: Sequence[Path],
    *,
    everything: bool = False,
    strict: bool = False,
    progress: BulkProgress | None = None,
) -> BulkReport:
    """Fill the empty local Neo4j with the triples of `paths` through `neo4j-admin database import full`."""
    server = _local_neo4j(settings)
    _require_empty(settings)  # before anything is touched
    started = time.perf_counter()
    builder, report = read_for_import(paths, everything, strict, progress)
    report.seconds["read"] = round(time.perf_counter() - started, 2)
    folder = server.root / "import" / time.strftime("%Y%m%d-%H%M%S")
    t = time.perf_counter()
    files: ImportFiles = builder.write(folder)
    del builder
    report.seconds["write_csv"] = round(time.perf_counter() - t, 2)
    if progress:
        progress("importing", 0, files.triples)
    t = time.perf_counter()
    server.stop()
    try:
        server.admin(*files.admin_args(DATABASE), heap=settings.neo4j_heap)
    finally:
        server.start()  # on the same port, imported or not
    report.seconds["import"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    with connect(settings, ensure_schema=True) as store:
        stats = store.stats()
    report.seconds["schema"] = round(time.perf_counter() - t, 2)
    report.seconds["total"] = round(time.perf_counter() - started, 2)
    report.events, report.inferences, report.triples = stats["events"], stats["inferences"], stats["triples"]
    for f in folder.iterdir():  # the CSV files are a copy of the input: do not keep them
        if f.suffix == ".csv":
            f.unlink()
    if progress:
        progress("importing", files.triples, files.triples)
    return report
