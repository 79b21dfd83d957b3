"""What a request sees: the app's services (made once) and fresh per-request DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.fastapi import BaseContext

from skd.core.settings import Settings
from skd.service.completion import CompletionService
from skd.service.graph import AsyncGraph
from skd.service.guards import ModelRateLimit
from skd.service.loaders import Loaders
from skd.service.metrics import Metrics


@dataclass(slots=True)
class Services:
    """Everything made once at start-up and shared by all requests."""

    settings: Settings
    graph: AsyncGraph
    completion: CompletionService
    metrics: Metrics
    rate_limit: ModelRateLimit


class Context(BaseContext):
    """One per request: the loaders are new each time, so no cached row outlives its request."""

    def __init__(self, services: Services, api_key: str | None) -> None:
        super().__init__()
        self.settings = services.settings
        self.graph = services.graph
        self.completion = services.completion
        self.metrics = services.metrics
        self.rate_limit = services.rate_limit
        self.loaders = Loaders(services.graph)
        self.api_key = api_key
