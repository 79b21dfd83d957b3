"""`skd pipeline`: run the stages in order, skipping those already done with the same configuration.

The run folder's `pipeline-state.json` records, per finished stage, the hash of the config part it
used, its outputs, counts, teacher usage and time. A stage is skipped when its record is complete, its
hash matches and its outputs exist; otherwise it runs, and so does every stage after it (their inputs
changed). A stage interrupted with an unchanged config resumes from what its own files hold (teacher
runs and student checkpoints are resumable); with a changed config its files are removed first.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skd.core.errors import ConfigError, InputError
from skd.core.files import write_json
from skd.core.settings import Settings
from skd.ingest.run import now_iso
from skd.pipeline.config import PipelineConfig, bundled_path, config_hash, load_config
from skd.pipeline.report import build_report, write_report
from skd.pipeline.stages import STAGES, ProgressSink, Stage, StageContext, stage_names

if TYPE_CHECKING:
    from skd.graph_schema.store import GraphStore

__all__ = [
    "DEMO_CONFIG",
    "STATE_FILE",
    "PipelineProgress",
    "PipelineResult",
    "PipelineState",
    "StageResult",
    "demo_config",
    "run_pipeline",
    "stage_names",
]

STATE_FILE = "pipeline-state.json"
#: the packaged demo: a small run of the whole idea on the bundled models and data
DEMO_CONFIG = "demo.toml"


class PipelineProgress(ProgressSink):
    """Hooks for showing a run; this base shows nothing (the CLI draws rich progress bars)."""

    def stage_started(self, index: int, total: int, stage: str, title: str, resumed: bool) -> None:
        """A stage begins (`resumed`: it goes on from an interrupted attempt)."""

    def stage_skipped(self, index: int, total: int, stage: str, title: str, record: dict[str, Any]) -> None:
        """A stage was already done with this configuration."""

    def stage_finished(self, index: int, total: int, stage: str, title: str, record: dict[str, Any]) -> None:
        """A stage ran to completion; `record` is what the state file now holds for it."""


@dataclass(slots=True)
class StageResult:
    name: str
    status: str  # "ran" or "skipped"
    seconds: float


@dataclass(slots=True)
class PipelineResult:
    run_dir: Path
    stages: list[StageResult]
    report: dict[str, Any]
    report_files: tuple[Path, Path]
    markdown: str = ""
    ran: list[str] = field(default_factory=list)


class PipelineState:
    """The state file: one record per stage, rewritten atomically after every change."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / STATE_FILE
        self.data: dict[str, Any] = {"version": 1, "stages": {}}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise InputError(f"{self.path} is not valid JSON ({e.msg}); remove it to start the run over") from e
            self.data.setdefault("stages", {})

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        return self.data["stages"]

    def save(self) -> None:
        write_json(self.path, self.data)

    def is_done(self, stage: str, digest: str, run_dir: Path) -> bool:
        rec = self.stages.get(stage)
        if not rec or rec.get("status") != "done" or rec.get("hash") != digest:
            return False
        return all((run_dir / p).exists() for p in rec.get("outputs", {}).values())

    def can_resume(self, stage: str, digest: str) -> bool:
        rec = self.stages.get(stage)
        return rec is not None and rec.get("status") == "running" and rec.get("hash") == digest

    def start(self, stage: str, digest: str, part: dict[str, Any]) -> None:
        self.stages[stage] = {"status": "running", "hash": digest, "config": part, "started": now_iso()}
        self.save()

    def finish(
        self,
        stage: str,
        outputs: dict[str, str],
        counts: dict[str, Any],
        usage: dict[str, Any] | None,
        seconds: float,
        cpu_seconds: float,
    ) -> dict[str, Any]:
        rec = self.stages[stage]
        rec.update(
            status="done",
            finished=now_iso(),
            seconds=round(seconds, 2),
            cpu_seconds=round(cpu_seconds, 2),
            outputs=outputs,
            counts=counts,
            usage=usage,
        )
        self.save()
        return rec

    def forget_from(self, names: list[str]) -> None:
        for name in names:
            self.stages.pop(name, None)
        self.save()


def _inputs(cfg: PipelineConfig) -> list[Path]:
    """Files the config points at, which a stage's clean-up must never delete."""
    given = [cfg.critic.path, cfg.events.file, cfg.events.seed_file]
    return [cfg.resolve(p).resolve() for p in given if p is not None]


def _remove(run_dir: Path, stage: Stage, keep: list[Path]) -> None:
    for name in stage.owns:
        p = run_dir / name
        clash = [k for k in keep if k == p.resolve() or p.resolve() in k.parents]
        if clash:
            raise ConfigError(
                f"{clash[0]} is inside {p}, which the {stage.name} stage rewrites; copy it out of the run folder first"
            )
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def demo_config() -> Path:
    """The packaged demo configuration (`ingest/data/demo.toml`)."""
    return bundled_path(DEMO_CONFIG)


def run_pipeline(
    config: PipelineConfig | Path | str,
    *,
    settings: Settings,
    store: GraphStore | None = None,
    progress: PipelineProgress | None = None,
    run_dir: Path | None = None,
    from_stage: str | None = None,
    until_stage: str | None = None,
) -> PipelineResult:
    """Run (or resume) the pipeline for `config` (a `PipelineConfig` or a TOML path) and write its report.

    `store` is an open GraphStore to load into (else the settings' graph is opened when the load stage
    needs it); `run_dir` overrides the config's run folder; `from_stage` re-runs that stage and the
    ones after it even if done; `until_stage` stops after that stage.
    """
    cfg = config if isinstance(config, PipelineConfig) else load_config(config)
    progress = progress or PipelineProgress()
    names = stage_names()
    for given in (from_stage, until_stage):
        if given is not None and given not in names:
            raise InputError(f"unknown stage {given!r}; stages are {', '.join(names)}")
    first_forced = names.index(from_stage) if from_stage else len(names)
    last = names.index(until_stage) if until_stage else len(names) - 1
    folder = (run_dir or cfg.run_dir(settings.data_dir)).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    state = PipelineState(folder)
    state.data.setdefault("created", now_iso())
    state.data["run"] = {"name": cfg.run.name, "dir": str(folder)}
    ctx = StageContext(cfg, settings, folder, progress, store=store, records=state.stages)
    results: list[StageResult] = []
    invalidated = False
    try:
        for i, stage in enumerate(STAGES[: last + 1]):
            part = stage.part(cfg, settings)
            digest = config_hash(part)
            if not invalidated and i < first_forced and state.is_done(stage.name, digest, folder):
                rec = state.stages[stage.name]
                progress.stage_skipped(i, len(STAGES), stage.name, stage.title, rec)
                results.append(StageResult(stage.name, "skipped", float(rec.get("seconds", 0.0))))
                continue
            # this stage runs, so every later one must too: its inputs are about to change
            if not invalidated:
                state.forget_from(names[i + 1 :])
            invalidated = True
            resumed = i < first_forced and state.can_resume(stage.name, digest)
            if not resumed:
                _remove(folder, stage, _inputs(cfg))
            state.start(stage.name, digest, part)
            progress.stage_started(i, len(STAGES), stage.name, stage.title, resumed)
            # CPU time beside wall time: on a shared machine the wall clock says little about the work
            started, cpu_started = time.monotonic(), time.process_time()
            out = stage.run(ctx)
            rec = state.finish(
                stage.name,
                out.outputs,
                out.counts,
                out.usage,
                time.monotonic() - started,
                time.process_time() - cpu_started,
            )
            progress.stage_finished(i, len(STAGES), stage.name, stage.title, rec)
            results.append(StageResult(stage.name, "ran", rec["seconds"]))
    finally:
        ctx.close()
    state.data["updated"] = now_iso()
    state.save()
    report = build_report(cfg, state.data, [(r.name, r.status) for r in results], folder)
    files = write_report(report, folder)
    return PipelineResult(
        folder,
        results,
        report,
        files,
        markdown=files[1].read_text(encoding="utf-8"),
        ran=[r.name for r in results if r.status == "ran"],
    )
