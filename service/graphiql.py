"""GraphiQL served from the assets this package ships, so the IDE works with no network beyond the service.

Strawberry's own GraphiQL page loads React and GraphiQL from unpkg.com, which leaves a blank page offline
or behind a strict proxy. Here `GraphiQLRouter` answers a browser's GET /graphql (Accept: text/html) with
our own page instead, which loads GraphiQL 3 and React 18 (UMD builds, in `static/graphiql/`, refreshed by
`static/graphiql/fetch.sh`) from `STATIC_PATH` on the same origin, and nothing from anywhere else: its
Content-Security-Policy lets the browser fetch only from the page's own origin. The headers editor is open,
with an `X-API-Key` entry for mutations; the key is not persisted in the browser's storage.

`mount_graphiql_assets` mounts the assets; `create_app` does both only when `Settings.service_graphiql`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from strawberry.fastapi import GraphQLRouter

from skd.service.context import Context
from skd.service.permissions import API_KEY_HEADER

#: the shipped assets: one folder per npm package, each with its LICENSE
STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
#: where they are served; a sibling of /graphql, so the page can name them by relative URLs (which keeps
#: them right behind a proxy that serves the app under a prefix)
STATIC_PATH = "/graphiql/static"
#: the npm packages shipped (as `static/graphiql/fetch.sh` fetches them)
VERSIONS = {"graphiql": "3.8.3", "react": "18.3.1", "react-dom": "18.3.1"}
#: the page's scripts and style sheet, relative to STATIC_DIR, in load order
SCRIPTS = ("react/react.production.min.js", "react-dom/react-dom.production.min.js", "graphiql/graphiql.min.js")
STYLESHEET = "graphiql/graphiql.min.css"

DEFAULT_QUERY = """\
# skd: the commonsense knowledge graph. Ctrl-Enter runs the query; Ctrl-Space completes.
# Mutations need the service's API key: put it in the Headers tab below.
{
  relations {
    name
    category
  }
}
"""

_BOOT = f"""
const endpoint = window.location.origin + window.location.pathname;
const root = ReactDOM.createRoot(document.getElementById("graphiql"));
root.render(
  React.createElement(GraphiQL, {{
    fetcher: GraphiQL.createFetcher({{ url: endpoint }}),
    defaultQuery: {json.dumps(DEFAULT_QUERY)},
    defaultHeaders: {json.dumps(json.dumps({API_KEY_HEADER: ""}, indent=2))},
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    inputValueDeprecation: true,
  }}),
);
"""

#: only the page's own origin, and only what GraphiQL needs (its fonts and icons are data: URLs; the
#: editors set inline styles); the one inline script is allowed by its hash
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' 'sha256-{base64.b64encode(hashlib.sha256(_BOOT.encode()).digest()).decode()}'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)


def graphiql_html() -> str:
    """The page: the shipped assets by URLs relative to the GraphQL endpoint, then the inline boot script."""
    base = STATIC_PATH.lstrip("/")
    scripts = "\n".join(f'    <script src="{base}/{s}"></script>' for s in SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>skd GraphiQL</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="{base}/{STYLESHEET}" />
    <style>
      body {{ margin: 0; height: 100vh; overflow: hidden; }}
      #graphiql {{ height: 100vh; }}
    </style>
{scripts}
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    <script>{_BOOT}</script>
  </body>
</html>
"""


class GraphiQLRouter(GraphQLRouter[Context, None]):
    """Strawberry's GraphQL router with our GraphiQL page in place of its CDN-loading one. Whether the page
    is served at all stays strawberry's `graphql_ide` argument (None: a browser's GET gets a 404)."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(), headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


def mount_graphiql_assets(app: FastAPI) -> None:
    """Serve the shipped GraphiQL assets at STATIC_PATH."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="graphiql-static")
