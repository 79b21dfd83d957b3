"""The one place where configuration is read: environment variables prefixed `SKD_` and an optional `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the project. Each field `foo` is read from `SKD_FOO`."""

    # an empty variable (SKD_CRITIC_PATH=) means unset, as in a compose file that passes optional ones
    model_config = SettingsConfigDict(
        env_prefix="SKD_", env_file=".env", extra="ignore", env_ignore_empty=True, populate_by_name=True
    )

    # -- where local state lives (embedded database, caches, trained models) --
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("skd", appauthor=False)))

    # -- the graph: a Neo4j URI in production; unset means a local server this project runs --
    #: which local server runs when SKD_GRAPH_URI is unset: the bundled ArcadeDB, or Neo4j from Maven jars
    graph_backend: Literal["arcadedb", "neo4j"] = "arcadedb"
    graph_uri: str | None = None
    graph_user: str | None = None
    graph_password: SecretStr | None = None
    graph_database: str | None = None
    graph_batch_size: int = Field(default=2000, ge=1, le=100_000)
    graph_connect_timeout_s: float = Field(default=5.0, gt=0)
    #: how long the driver retries a transaction that failed transiently (the driver's default is 30 s)
    graph_retry_time_s: float = Field(default=10.0, ge=0)
    #: only for an external ArcadeDB server: its HTTP API, used to create the full-text index
    graph_http_url: str | None = None
    arcadedb_heap: str = "1g"
    #: extra JVM options of the embedded server (shell-style words); the parallel collector loads ~7% faster
    #: than the default G1 on small machines
    arcadedb_jvm_options: str = "-XX:+UseParallelGC"
    arcadedb_start_timeout_s: float = Field(default=60.0, gt=0)
    #: the local Neo4j: its jars (unset: graph_schema/neo4j/target/lib, where ./setup.sh resolves them)
    neo4j_lib_dir: Path | None = None
    #: the Java 17+ that runs it (unset: JAVA_HOME, then `java` on PATH)
    neo4j_java: str | None = None
    neo4j_heap: str = "512m"
    neo4j_pagecache: str = "256m"
    neo4j_jvm_options: str = ""
    neo4j_start_timeout_s: float = Field(default=120.0, gt=0)

    # -- the teacher: an OpenAI-compatible endpoint, or a local transformers model --
    #: the endpoint and key of `openai:` teachers; unset, the `openai` client's own OPENAI_BASE_URL and
    #: OPENAI_API_KEY below apply
    teacher_base_url: str | None = None
    teacher_api_key: SecretStr | None = None
    #: the `openai` client's own environment, read under its own names
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_org_id: str | None = Field(default=None, validation_alias="OPENAI_ORG_ID")
    openai_project_id: str | None = Field(default=None, validation_alias="OPENAI_PROJECT_ID")
    teacher_model: str = "smollm2"
    teacher_concurrency: int = Field(default=16, ge=1)
    teacher_max_retries: int = Field(default=5, ge=0)
    teacher_timeout_s: float = Field(default=60.0, gt=0)
    teacher_price_per_1k_prompt_tokens: float = Field(default=0.0, ge=0)
    teacher_price_per_1k_completion_tokens: float = Field(default=0.0, ge=0)
    #: `completion` (/v1/completions, the default) or `chat` (/v1/chat/completions) for `openai:` teachers
    teacher_api_mode: Literal["completion", "chat"] = "completion"
    teacher_logprobs: bool = True
    teacher_backoff_base_s: float = Field(default=0.5, ge=0)
    teacher_backoff_max_s: float = Field(default=30.0, ge=0)
    #: caps per process on what a teacher may spend; a run stops cleanly at a cap and can be resumed
    teacher_max_requests: int | None = Field(default=None, ge=0)
    teacher_max_tokens: int | None = Field(default=None, ge=0)
    teacher_max_cost: float | None = Field(default=None, ge=0)
    teacher_batch_size: int = Field(default=16, ge=1)
    teacher_device: str | None = None
    #: the on-disk cache of teacher requests; unset means <data_dir>/cache/teacher-requests.sqlite
    teacher_cache_path: Path | None = None
    #: `openai-batch:` teachers (the OpenAI Batch API): cost at the prices above times this factor (OpenAI
    #: bills batches at half price), input files split at the API's limits (50,000 requests, 200 MB), status
    #: polled every poll_s growing to poll_max_s, failed requests tried in up to max_attempts batches, and
    #: with wait_s set, a run that stops waiting after that long (run it again to resume polling)
    teacher_batch_price_factor: float = Field(default=0.5, ge=0)
    teacher_batch_max_requests: int = Field(default=50_000, ge=1)
    teacher_batch_max_bytes: int = Field(default=200_000_000, ge=1)
    teacher_batch_poll_s: float = Field(default=15.0, gt=0)
    teacher_batch_poll_max_s: float = Field(default=300.0, gt=0)
    teacher_batch_max_attempts: int = Field(default=3, ge=1)
    teacher_batch_wait_s: float | None = Field(default=None, gt=0)

    # -- the critic and the student: a saved folder, or a Hugging Face id or path for the base --
    model_cache_dir: Path | None = None
    critic_path: Path | None = None
    critic_encoder: str = "all-MiniLM-L6-v2"
    critic_batch_size: int = Field(default=64, ge=1)
    #: the filtering level used when none is given (the paper's levels are 0.5-0.9)
    critic_recall_level: float = Field(default=0.8, gt=0, le=1)
    student_path: Path | None = None
    student_base: str = "smollm2"

    # -- the service --
    service_host: str = "127.0.0.1"
    service_port: int = Field(default=8000, ge=0, le=65535)
    service_api_key: SecretStr | None = None
    service_max_page_size: int = Field(default=100, ge=1)
    service_max_query_depth: int = Field(default=10, ge=1)
    service_max_input_chars: int = Field(default=300, ge=1)
    service_batch_window_ms: float = Field(default=10.0, ge=0)
    service_max_batch: int = Field(default=32, ge=1)
    service_completion_cache_size: int = Field(default=1024, ge=0)
    service_graph_timeout_s: float = Field(default=10.0, gt=0)
    service_graph_threads: int = Field(default=16, ge=1)
    service_max_aliases: int = Field(default=20, ge=1)
    service_max_tokens: int = Field(default=2000, ge=1)
    service_max_completions: int = Field(default=5, ge=1)
    service_max_new_tokens: int = Field(default=24, ge=1)
    #: GraphiQL at GET /graphql (a browser's Accept: text/html), from the assets the package ships; off in
    #: production if no one should browse the API
    service_graphiql: bool = True
    #: schema introspection (`__schema`, `__type`); off in production to keep the schema to its documentation
    service_introspection: bool = True
    #: whether `complete`, which runs the models, needs the API key (X-API-Key) as writes do
    service_complete_requires_key: bool = False
    #: model work each client (its API key, else its address) may ask for, in the `limits` notation
    #: ("60/minute", "10/second;300/hour"); "none" means unlimited
    service_model_rate_limit: str = "120/minute"
    #: live generations waiting for the model beyond which a `complete` is refused with OVERLOADED
    service_max_queue: int = Field(default=256, ge=1)
    #: how long a `complete` waits for its live generations before DEADLINE_EXCEEDED
    service_model_timeout_s: float = Field(default=15.0, gt=0)
    #: the most live generations (relations x n) one `complete` may ask for
    service_max_live_generations: int = Field(default=40, ge=1)
    #: the largest request body, in bytes; a larger one is answered 413
    service_max_body_bytes: int = Field(default=65_536, ge=1024)
    #: torch threads for the service's live generation and critic scoring. One by default: the model
    #: shares the cores with the event loop, the graph server and any other worker, and torch's threads,
    #: spinning at each operation's barrier while another process holds a core, made a 7-relation
    #: generation 10 times slower on a busy 2-core machine (bench/service.py measures it)
    service_model_threads: int = Field(default=1, ge=1)
    #: run the service's student with int8 dynamically quantized linear layers: about 4 times as fast on
    #: a CPU, and worse (on 400 ATOMIC pairs the critic accepted 51% of its answers against 66%: README)
    service_student_int8: bool = False

    @property
    def embedded(self) -> bool:
        """True when no graph URI is configured, so the project runs its own server (`graph_backend`)."""
        return not self.graph_uri

    @property
    def arcadedb_dir(self) -> Path:
        return self.data_dir / "arcadedb"

    @property
    def neo4j_dir(self) -> Path:
        return self.data_dir / "neo4j"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def teacher_endpoint(self) -> str | None:
        """The `openai:` teachers' base URL: SKD_TEACHER_BASE_URL, else OPENAI_BASE_URL; None is OpenAI's."""
        return self.teacher_base_url or self.openai_base_url

    @property
    def teacher_key(self) -> str | None:
        """The `openai:` teachers' API key: SKD_TEACHER_API_KEY, else OPENAI_API_KEY; None sends none."""
        key = self.teacher_api_key or self.openai_api_key
        return key.get_secret_value() if key else None

    @property
    def request_cache_path(self) -> Path:
        """The on-disk cache of teacher requests."""
        return self.teacher_cache_path or self.cache_dir / "teacher-requests.sqlite"

    @property
    def models_dir(self) -> Path:
        """Converted bundled weights (SmolLM2 from GGUF) and other model caches."""
        return self.model_cache_dir or self.cache_dir / "models"
