"""The key-set endpoints: `GET /jwks.json` and `GET /configs/{id}/jwks.json` (worker/core/jwks.py builds them).

Responses carry `Cache-Control: max-age` and a strong ETag; a request whose
`If-None-Match` names the current ETag gets 304 without a body.
"""

from __future__ import annotations

import time

import faust
from faust.web import Request, Response, View

from worker.core import jwks
from worker.core.configtable import ConfigTable
from worker.stream import metrics

# The config id is everything between /configs/ and /jwks.json (it may hold dots).
CONFIG_PATH = "/configs/{config_id:.+}/jwks.json"


def install(app: faust.App, table: ConfigTable) -> jwks.KeySets:
    key_sets = jwks.KeySets(table)

    @app.page("/jwks.json")
    async def all_keys(view: View, request: Request) -> Response:
        return _serve(view, request, key_sets.all(time.time()), "all")

    @app.page(CONFIG_PATH)
    async def config_keys(view: View, request: Request, config_id: str) -> Response:
        found = key_sets.of(config_id, time.time())
        if found is None:
            metrics.JWKS_REQUESTS.labels("config", "404").inc()
            # The same answer for unknown, invalid and symmetric configs: nothing to publish.
            return view.json({"error": "no public signing keys for this config"}, status=404)
        return _serve(view, request, found, "config")

    return key_sets


def _serve(view: View, request: Request, doc: jwks.KeySetDocument, scope: str) -> Response:
    headers = {"ETag": doc.etag, "Cache-Control": jwks.CACHE_CONTROL}
    if jwks.not_modified(request.headers.get("If-None-Match"), doc.etag):
        metrics.JWKS_REQUESTS.labels(scope, "304").inc()
        return view.bytes(b"", status=304, headers=headers)
    metrics.JWKS_REQUESTS.labels(scope, "200").inc()
    return view.bytes(doc.body, content_type=jwks.CONTENT_TYPE, headers=headers)
