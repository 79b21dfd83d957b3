"""The FastAPI app: GraphQL at /graphql (with GraphiQL unless SKD_SERVICE_GRAPHIQL=false), /healthz, /readyz and
Prometheus /metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

import anyio.to_thread
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from skd.core.errors import SkdError
from skd.core.settings import Settings
from skd.graph_schema.relations import Relation
from skd.graph_schema.store import GraphStore
from skd.service.completion import CompletionService, CriticLike, EventCompletion, Models, StudentLike
from skd.service.context import Context, Services
from skd.service.graph import AsyncGraph
from skd.service.graphiql import GraphiQLRouter, mount_graphiql_assets
from skd.service.guards import BodyLimit, ModelRateLimit
from skd.service.metrics import Metrics, RequestMetrics
from skd.service.permissions import API_KEY_HEADER
from skd.service.schema import build_schema

log = logging.getLogger(__name__)


def load_models(
    settings: Settings, student: StudentLike | None, critic: CriticLike | None
) -> tuple[StudentLike | None, CriticLike | None]:
    """The given models, else those the settings name (SKD_STUDENT_PATH, SKD_CRITIC_PATH), else none."""
    if student is None and settings.student_path is not None:
        from skd.models.student import Student

        loaded = Student.load(settings.student_path, models_dir=settings.models_dir)
        if settings.service_student_int8:
            loaded.quantize_int8()
        # Student.generate takes more options than the service uses; it answers StudentLike's calls
        student = cast(StudentLike, loaded)
    if critic is None and settings.critic_path is not None:
        from skd.models.critic import Critic

        critic = Critic.load(settings.critic_path)
    return student, critic


def build_services(
    settings: Settings, store: GraphStore, student: StudentLike | None, critic: CriticLike | None, metrics: Metrics
) -> Services:
    graph = AsyncGraph(store, settings.service_graph_timeout_s, settings.service_graph_threads)
    models = Models(
        student, critic, max_new_tokens=settings.service_max_new_tokens, threads=settings.service_model_threads
    )
    completion = CompletionService(
        graph,
        models,
        settings.service_batch_window_ms / 1000,
        settings.service_max_batch,
        settings.service_completion_cache_size,
        on_batch=metrics.on_batch,
        on_cache=metrics.on_cache,
        max_queue=settings.service_max_queue,
        timeout_s=settings.service_model_timeout_s,
    )
    metrics.models_loaded.labels(role="student").set(student is not None)
    metrics.models_loaded.labels(role="critic").set(critic is not None)
    return Services(
        settings=settings,
        graph=graph,
        completion=completion,
        metrics=metrics,
        rate_limit=ModelRateLimit(settings.service_model_rate_limit),
    )


async def complete_once(
    settings: Settings,
    store: GraphStore,
    event: str,
    relations: list[Relation] | None,
    n: int,
    min_score: float | None,
    live_for_all: bool = False,
    normalise: bool = True,
) -> EventCompletion:
    """One `complete`, as the service answers it, in this process (for `skd complete`): the models the
    settings name are loaded, used once and let go."""
    student, critic = await anyio.to_thread.run_sync(load_models, settings, None, None)
    services = build_services(settings, store, student, critic, Metrics())
    try:
        return await services.completion.complete(event, relations, n, min_score, live_for_all, normalise)
    finally:
        await services.completion.aclose()
        services.graph.close()


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain function in a worker thread, one thread hop per request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_context(request: Request) -> Context:
    """The request's context. It takes the request alone: every parameter FastAPI injects (a header, a
    sub-dependency) costs a resolution on each request, measured as a sixth of a lookup's server time."""
    return Context(request.app.state.services, request.headers.get(API_KEY_HEADER))


def create_app(
    settings: Settings,
    store: GraphStore | None = None,
    student: StudentLike | None = None,
    critic: CriticLike | None = None,
) -> FastAPI:
    """The service. Without `store` it connects to the configured graph at start-up (and closes it at
    shut-down); models not given are loaded from the settings' paths, and may be absent."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        if store is None:
            from skd.graph_schema.connect import connect

            graph_store = await anyio.to_thread.run_sync(connect, settings)
        else:
            graph_store = store
        s, c = await anyio.to_thread.run_sync(load_models, settings, student, critic)
        services = build_services(settings, graph_store, s, c, metrics)
        app.state.services = services
        try:
            yield
        finally:
            await services.completion.aclose()
            services.graph.close()
            if own_store:
                graph_store.close()

    app = FastAPI(
        title="skd", description="Commonsense knowledge graph lookups and live completion.", lifespan=lifespan
    )
    ide = settings.service_graphiql
    schema = build_schema(settings)
    app.include_router(
        GraphiQLRouter(schema, path="/graphql", context_getter=get_context, graphql_ide="graphiql" if ide else None)
    )
    if ide:
        mount_graphiql_assets(app)
    app.add_middleware(BodyLimit, max_bytes=settings.service_max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)  # the outermost: the 413s are counted too

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up (says nothing of the graph)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(services: ServicesDep) -> JSONResponse:
        """Ready when the graph answers; also says which models are loaded."""
        models = services.completion.models
        body: dict[str, Any] = {"graph": "ok", "student": models.student_name, "critic": models.critic_name}
        try:
            await services.graph.ping()
        except SkdError as e:
            body.update(status="unavailable", graph=str(e))
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", **body})

    @app.get("/metrics")
    async def prometheus() -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    return app
