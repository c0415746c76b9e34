"""A JWKS over HTTPS (or plain HTTP, `tls=False`) on the loopback address, for the jwks_url key source.

Its certificate comes from a throwaway CA (tests/support/pki.py) whose PEM file
the worker trusts through JWTGEN_JWKS_CA_FILE. The key set it serves can be
swapped while it runs, and it can be stopped and started again on its port.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from pathlib import Path
from typing import Any

from tests.support.pki import CA, server_files
from tests.support.processes import free_port


class JwksServer:
    def __init__(self, ca: CA, directory: Path, port: int | None = None, *, tls: bool = True) -> None:
        self.port = port or free_port()
        self.tls = tls
        self.cert_file, self.key_file = server_files(ca, directory)
        self.keys: dict[str, list[dict[str, Any]]] = {}  # path -> its JWKS keys
        self.status = 200
        self.redirect_to: str | None = None
        self.hits: dict[str, int] = {}
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, keys: list[dict[str, Any]]) -> str:
        """Serve `keys` as the JWKS at `path` (replacing what was there); returns its URL."""
        self.keys[path] = keys
        return self.url(path)

    def start(self) -> JwksServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                if owner.redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", owner.redirect_to)
                    self.end_headers()
                    return
                keys = owner.keys.get(self.path)
                status = owner.status if keys is not None else 404
                body = json.dumps({"keys": keys}).encode() if status == 200 else b'{"error":"nope"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_file, self.key_file)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="jwks-server", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> JwksServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
