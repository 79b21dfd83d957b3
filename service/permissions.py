"""Who may call what: mutations need the service's API key in the `X-API-Key` header."""

from __future__ import annotations

import hmac
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from skd.service.errors import ApiError, Code

API_KEY_HEADER = "X-API-Key"


class HasApiKey(BasePermission):
    """A missing key is UNAUTHENTICATED, a wrong one FORBIDDEN; a server without a key refuses all writes."""

    message = f"this operation needs the service API key in the {API_KEY_HEADER} header"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        expected = info.context.settings.service_api_key
        if expected is None:
            raise ApiError("writes are disabled: the server has no API key (set SKD_SERVICE_API_KEY)", Code.FORBIDDEN)
        given = info.context.api_key
        if not given:
            return False
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise ApiError("wrong API key", Code.FORBIDDEN)
        return True

    def on_unauthorized(self) -> None:
        raise ApiError(self.message, Code.UNAUTHENTICATED)
