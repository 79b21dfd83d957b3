"""Who may call what: mutations (and `complete`, if so configured) need the API key in the `X-API-Key` header."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from strawberry.permission import BasePermission
from strawberry.types import Info

from skd.service.errors import ApiError, Code

if TYPE_CHECKING:
    from skd.service.context import Context

API_KEY_HEADER = "X-API-Key"


MISSING_KEY = f"this operation needs the service API key in the {API_KEY_HEADER} header"


def _key_ok(context: Context) -> bool:
    """True with the right key, False with none; a wrong key, or a server without one, is FORBIDDEN."""
    expected = context.settings.service_api_key
    if expected is None:
        raise ApiError(
            "this operation is disabled: the server has no API key (set SKD_SERVICE_API_KEY)", Code.FORBIDDEN
        )
    given = context.api_key
    if not given:
        return False
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise ApiError("wrong API key", Code.FORBIDDEN)
    return True


def require_api_key(context: Context) -> None:
    """For fields whose need of the key is a setting (`complete`): the same rules as `HasApiKey`."""
    if not _key_ok(context):
        raise ApiError(MISSING_KEY, Code.UNAUTHENTICATED)


class HasApiKey(BasePermission):
    """A missing key is UNAUTHENTICATED, a wrong one FORBIDDEN; a server without a key refuses all writes."""

    message = MISSING_KEY

    def has_permission(self, source: object, info: Info, **kwargs: object) -> bool:
        return _key_ok(info.context)

    def on_unauthorized(self) -> None:
        raise ApiError(self.message, Code.UNAUTHENTICATED)
