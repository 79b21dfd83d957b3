"""The GraphQL service: graph lookups, full-text search and live student completion over HTTP."""

from skd.service.app import create_app

__all__ = ["create_app"]
