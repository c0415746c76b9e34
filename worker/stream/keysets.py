"""Fetches the encryption key sets of `jwks_url` configs over HTTPS into the core's `KeySets` cache.

A daemon thread does the fetching with the standard library (urllib), so a slow
JWKS endpoint never blocks the event loop; the requests agent only ever reads
the cache. Every URL is fetched as soon as a config names it, then every
`jwks_refresh_seconds`, and again after `RETRY_SECONDS` when a fetch failed or
a request asked for a kid the set lacks. A redirect must lead to a URL a config
could name (https://, or http:// to the loopback address).
`jwtgen preview` uses `fetch` directly, once per URL.
"""

from __future__ import annotations

import logging
import ssl
import threading
import urllib.error
import urllib.request
from typing import Any

from worker.core.keysets import MAX_JWKS_BYTES, KeySets, check_url, shown

log = logging.getLogger(__name__)

_ACCEPT = "application/jwk-set+json, application/json"


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """A key set may move, but only to a URL a config could name (never from https:// to plain HTTP elsewhere)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if check_url(newurl) is not None:
            raise urllib.error.HTTPError(newurl, code, "redirect to a URL no config may name refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _why(reason: object) -> str:
    """'Connection refused', 'certificate verify failed', ...: what the network stack says."""
    if isinstance(reason, ssl.SSLError):
        return f"TLS: {reason.reason or type(reason).__name__}"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) if isinstance(reason, str) else type(reason).__name__


class KeySetFetcher:
    def __init__(self, keysets: KeySets, ca_file: str | None = None, timeout: float = 5.0) -> None:
        self.keysets = keysets
        self.timeout = timeout
        context = ssl.create_default_context(cafile=ca_file)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _CheckedRedirects)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fetch(self, url: str) -> bool:
        """Fetch `url` once and hand the result to the cache; True when a key set arrived."""
        request = urllib.request.Request(url, headers={"Accept": _ACCEPT, "User-Agent": "jwtgen-worker"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_JWKS_BYTES + 1)
        except urllib.error.HTTPError as exc:
            return self._failed(url, f"HTTP {exc.code}")
        except urllib.error.URLError as exc:
            reason = exc.reason
            return self._failed(
                url, reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
            )
        except (OSError, ValueError) as exc:  # timeouts, TLS errors, malformed responses
            return self._failed(url, type(exc).__name__)
        if len(body) > MAX_JWKS_BYTES:
            return self._failed(url, f"the response is over {MAX_JWKS_BYTES} bytes")
        self.keysets.fetched(url, body)
        error = self.keysets.error_of(url)
        if error is not None:
            log.warning("key set %s: %s", shown(url), error)
            return False
        return True

    def _failed(self, url: str, reason: str) -> bool:
        # Reasons come from the network stack (status codes, errno texts), never from the body.
        self.keysets.failed(url, reason[:200])
        log.warning("key set %s cannot be fetched: %s", shown(url), reason[:200])
        return False

    def start(self) -> None:
        """Fetch due key sets in a daemon thread until `stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="jwks-fetcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.keysets.changed.set()
        if self._thread is not None:
            # A fetch in flight ends within its timeout; the daemon thread never holds the process.
            self._thread.join(1.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            for url in self.keysets.due():
                if self._stop.is_set():
                    return
                try:
                    self.fetch(url)
                except Exception as exc:  # a bug here must not end the fetching for good
                    log.error("key set %s: unexpected %s", shown(url), type(exc).__name__)
                    self.keysets.failed(url, type(exc).__name__)
            # Sleep until the next URL is due, or until a new URL (or a missing kid) wakes us.
            self.keysets.changed.wait(min(self.keysets.seconds_to_next(), 1.0))
            self.keysets.changed.clear()
