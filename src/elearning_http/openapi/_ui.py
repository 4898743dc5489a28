"""The interactive docs, served by the app itself: Swagger UI from the installed ``swagger-ui-py`` package.

No CDN: the page and every asset it loads come from this server (``/schema/assets/<version>/...``,
cached for a year since the version is in the path), so the docs work offline and behind a firewall.
The page is a small shell (a few KB) that loads the document from ``/schema/openapi.json`` (Swagger UI's
``url``), which serves it as ``finalize`` makes it; the page no longer inlines the ~330 KB document.
"""

from __future__ import annotations

import html
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import swagger_ui
from litestar import Request
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

from elearning_http.openapi._document import finalize

SWAGGER_UI_VERSION = version("swagger-ui-py")
ASSETS = Path(swagger_ui.__file__).parent / "static"
DOCUMENT_PATH = "/openapi.json"  # under the OpenAPI mount: the JSON plugin serves it, the page loads it
ASSET_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")


class ServedDocument:
    """The finalized document, built once per generated one (Litestar caches the generated dict)."""

    def __init__(self) -> None:
        self._raw: dict[str, Any] | None = None
        self._document: dict[str, Any] = {}

    def __call__(self, request: Request[Any, Any, Any], raw: dict[str, Any]) -> dict[str, Any]:
        if raw is not self._raw:
            self._document, self._raw = finalize(raw, request.app), raw
        return self._document


class DocumentJson(JsonRenderPlugin):
    """``/schema/openapi.json``: the finalized document."""

    def __init__(self, served: ServedDocument) -> None:
        super().__init__(path=DOCUMENT_PATH)
        self._served = served

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self._served(request, openapi_schema))


class SelfHostedSwagger(OpenAPIRenderPlugin):
    """``/schema``: Swagger UI with its assets from this server, loading the document from ``spec_url``."""

    def __init__(
        self, served: ServedDocument, *, path: str = "/", mount: str = "/schema", spec: str = DOCUMENT_PATH
    ) -> None:
        self._assets = f"{mount}/assets/{SWAGGER_UI_VERSION}"
        self.spec_url = f"{mount}{spec}"
        super().__init__(
            path=path, favicon=f"<link rel='icon' type='image/png' href='{self._assets}/favicon-32x32.png'>"
        )
        self._served = served

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document = self._served(request, openapi_schema)
        spec_url = json.dumps(self.spec_url).replace("</", "<\\/")
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <title>{html.escape(document["info"]["title"])}</title>
  <meta charset="utf-8"/>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  {self.favicon}
  <link href="{self._assets}/swagger-ui.css" rel="stylesheet">
  <script src="{self._assets}/swagger-ui-bundle.js"></script>
  <script src="{self._assets}/swagger-ui-standalone-preset.js"></script>
  {self.style}
</head>
<body>
  <div id="swagger-container"></div>
  <script>
    window.ui = SwaggerUIBundle({{
      url: {spec_url},
      dom_id: "#swagger-container",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "BaseLayout",
    }});
  </script>
</body>
</html>""".encode()

    def receive_router(self, router: Router) -> None:
        router.register(
            create_static_files_router(
                path=f"/assets/{SWAGGER_UI_VERSION}",
                directories=[ASSETS],
                name="swagger-ui-assets",
                cache_control=CacheControlHeader(public=True, max_age=365 * 24 * 3600),
                include_in_schema=False,
            )
        )
