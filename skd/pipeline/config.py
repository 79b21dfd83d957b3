"""The `skd pipeline` configuration: one TOML file, validated by pydantic, with errors that name the bad key."""

from __future__ import annotations

import hashlib
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from skd.core.errors import ConfigError, InputError
from skd.graph_schema.relations import parse_relations
from skd.models.critic_labels import NEGATIVES_PER_POSITIVE

__all__ = [
    "BUNDLED",
    "CriticSection",
    "EvaluateSection",
    "EventsSection",
    "InferencesSection",
    "LoadSection",
    "PipelineConfig",
    "RunSection",
    "StudentSection",
    "TeacherSection",
    "bundled_path",
    "config_hash",
    "load_config",
    "parse_config",
    "resolve_data_path",
]

#: The prefix naming a file shipped inside the package (`ingest/data/`), so a config works on any machine.
BUNDLED = "bundled:"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSection(_Section):
    """Where the run lives and what it covers."""

    name: str = Field(default="skd", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    #: the run folder; relative paths are relative to the config file; unset: <SKD_DATA_DIR>/runs/<name>
    dir: Path | None = None
    relations: str | list[str] = "paper"
    seed: int = 0

    @field_validator("relations")
    @classmethod
    def _known_relations(cls, value: str | list[str]) -> str | list[str]:
        try:
            parse_relations(value)
        except InputError as e:
            raise ValueError(str(e)) from e
        return value

    @property
    def relation_names(self) -> list[str]:
        return [r.name for r in parse_relations(self.relations)]


class TeacherSection(_Section):
    """The teacher (`models.teacher.make_teacher` spec) and, for an OpenAI-compatible one, its endpoint."""

    model: str = Field(default="smollm2", min_length=1)
    #: overrides SKD_TEACHER_BASE_URL; the API key stays in SKD_TEACHER_API_KEY (secrets never go in files)
    base_url: str | None = None
    api_mode: Literal["completion", "chat"] | None = None
    concurrency: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    price_per_1k_prompt_tokens: float | None = Field(default=None, ge=0)
    price_per_1k_completion_tokens: float | None = Field(default=None, ge=0)
    max_cost: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    #: answer repeated requests from the on-disk request cache (a rerun never pays twice)
    cache: bool = True

    def settings_overrides(self) -> dict[str, Any]:
        """The `Settings` fields this section sets (only those given)."""
        pairs = {
            "teacher_base_url": self.base_url,
            "teacher_api_mode": self.api_mode,
            "teacher_concurrency": self.concurrency,
            "teacher_batch_size": self.batch_size,
            "teacher_price_per_1k_prompt_tokens": self.price_per_1k_prompt_tokens,
            "teacher_price_per_1k_completion_tokens": self.price_per_1k_completion_tokens,
            "teacher_max_cost": self.max_cost,
            "teacher_max_tokens": self.max_tokens,
        }
        return {k: v for k, v in pairs.items() if v is not None}


class EventsSection(_Section):
    """Stage 1: new events from numbered lists of seed events."""

    n: int = Field(default=100, ge=1)
    #: use these events (one a line, or TSV/JSONL as for seed files) instead of asking the teacher for events
    file: Path | None = None
    seed_file: Path | None = None
    examples_per_prompt: int = Field(default=10, ge=1)
    prompts_per_batch: int = Field(default=32, ge=1)
    max_tokens: int = Field(default=64, ge=1)
    temperature: float = Field(default=0.9, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_prompts: int | None = Field(default=None, ge=1)
    #: also skip events already in the graph (needs the graph during generation)
    dedupe_against_graph: bool = False


class InferencesSection(_Section):
    """Stage 2: `per_pair` few-shot samples for every (event, relation) pair."""

    per_pair: int = Field(default=5, ge=1)
    examples_per_prompt: int = Field(default=5, ge=1)
    max_tokens: int = Field(default=24, ge=1)
    temperature: float = Field(default=0.9, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    batch_pairs: int = Field(default=64, ge=1)


class CriticSection(_Section):
    """Stages 3 and 4: a critic (an existing folder, or trained on weak labels) and the filter."""

    #: an existing critic folder; unset: train one on weak labels bootstrapped from `bootstrap`
    path: Path | None = None
    bootstrap: str = f"{BUNDLED}atomic2020-paper.tsv"
    #: labels JSONL of judged teacher output, trained on beside the weak labels and calibrated on alone (their
    #: events held out of the student's evaluation are left out); empty: weak labels only
    judged: list[str] = Field(default_factory=lambda: [f"{BUNDLED}teacher-labels-smollm2.jsonl"])
    #: with judged labels: `stack` (weak labels train a head of their own, whose logit the stack reads beside
    #: the judged head's, with how near a tail lies to human tails of other events: measured best, see the
    #: README), `judged` (judged labels alone) or `weak+judged` (one
    #: head on both, mixed); without any, weak labels alone
    combine: Literal["stack", "judged", "weak+judged"] = "stack"
    #: read the teacher's log-probability of a tail where a triple carries one (`critic_stack`); triples
    #: without one (student generations, graph triples) are scored without it
    logprob: bool = True
    #: use at most this many events of the bootstrap graph (in a fixed hash order); unset: all
    bootstrap_events: int | None = Field(default=None, ge=2)
    negatives_per_positive: float = Field(default=NEGATIVES_PER_POSITIVE, ge=0)
    encoder: str = "all-MiniLM-L6-v2"
    #: keep the encoder's first N layers (0: all); unset: `train_critic`'s default (half of them in pair mode)
    encoder_layers: int | None = Field(default=None, ge=0)
    #: how the critic is trained (`models.critic.MODES`); unset: `train_critic`'s default
    mode: str | None = None
    epochs: int | None = Field(default=None, ge=1)
    #: keep triples scoring at or above the cutoff calibrated for this recall level
    recall_level: float = Field(default=0.8, gt=0, le=1)
    batch_size: int = Field(default=64, ge=1)

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str | None) -> str | None:
        from skd.models.critic import MODES

        if value is not None and value not in MODES:
            raise ValueError(f"unknown critic mode {value!r}; use one of {', '.join(MODES)}")
        return value


class LoadSection(_Section):
    """Stage 5: the accepted triples into the graph (SKD_GRAPH_URI, or the embedded ArcadeDB)."""

    enabled: bool = True


class StudentSection(_Section):
    """Stage 6: fine-tune a causal LM on the accepted triples."""

    base: str = "smollm2"
    max_steps: int = Field(default=1000, ge=1)
    batch_size: int = Field(default=16, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    lr: float = Field(default=5e-5, gt=0)
    eval_every: int = Field(default=100, ge=1)
    patience: int = Field(default=3, ge=1)
    max_len: int = Field(default=64, ge=8)
    val_fraction: float = Field(default=0.05, gt=0, lt=1)
    #: human-written rows (an ATOMIC TSV) the student also learns from, beside the filtered teacher output;
    #: unset (the paper's setting): teacher output only. Held-out events are left out of them too.
    human_rows: str | None = None


class EvaluateSection(_Section):
    """Stage 7: student against teacher on events held out of everything else, with human references."""

    enabled: bool = True
    #: ATOMIC-style references (TSV or JSONL); their held-out events never reach the critic's labels
    references: str = f"{BUNDLED}atomic2020-paper.tsv"
    #: how many events to hold out (chosen by a hash of the event, so the same ones every time)
    events: int = Field(default=50, ge=1)
    teacher_per_pair: int = Field(default=1, ge=1)
    examples: int = Field(default=5, ge=0)


class PipelineConfig(_Section):
    """The whole pipeline: one section per stage group; every key has a default except what a run must choose."""

    run: RunSection = RunSection()
    teacher: TeacherSection = TeacherSection()
    events: EventsSection = EventsSection()
    inferences: InferencesSection = InferencesSection()
    critic: CriticSection = CriticSection()
    load: LoadSection = LoadSection()
    student: StudentSection = StudentSection()
    evaluate: EvaluateSection = EvaluateSection()
    #: the folder relative paths are read against (the config file's folder); not a TOML key
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, path: Path | str) -> Path:
        return resolve_data_path(path, self.base_dir)

    def run_dir(self, data_dir: Path) -> Path:
        return self.resolve(self.run.dir) if self.run.dir is not None else data_dir / "runs" / self.run.name


def bundled_path(name: str) -> Path:
    """A data file shipped in `ingest/data/`."""
    path = Path(str(resources.files("skd.ingest").joinpath("data", name)))
    if not path.is_file():
        raise ConfigError(f"no bundled data file {name!r} (looked in {path.parent})")
    return path


def resolve_data_path(path: Path | str, base_dir: Path) -> Path:
    """`bundled:NAME` -> the packaged file; a relative path -> under `base_dir`; an absolute path as is."""
    text = str(path)
    if text.startswith(BUNDLED):
        return bundled_path(text[len(BUNDLED) :])
    p = Path(text).expanduser()
    return p if p.is_absolute() else (base_dir / p)


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(x) for x in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    return f"{where}: {error['msg']}"


def parse_config(data: dict[str, Any], base_dir: Path | None = None, source: str = "config") -> PipelineConfig:
    """Validate a parsed TOML document; every problem is listed with its dotted key."""
    if "base_dir" in data:
        raise ConfigError(f"{source}: base_dir: unknown key")
    try:
        return PipelineConfig.model_validate({**data, "base_dir": base_dir or Path(".")})
    except ValidationError as e:
        problems = "; ".join(_describe(err) for err in e.errors())
        raise ConfigError(f"{source}: {problems}") from e


def load_config(path: Path | str) -> PipelineConfig:
    """Read and validate a pipeline TOML file; relative paths in it are relative to its folder."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read pipeline config {p}: {e.strerror}") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from e
    return parse_config(data, p.resolve().parent, str(p))


def config_hash(part: object) -> str:
    """A stable hash of a piece of configuration (sorted JSON), so a changed part re-runs its stage."""
    blob = json.dumps(part, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
