"""The Faust application: topics, the requests agent and the web views.

It only moves records between Kafka and the pure core (`handler`, `engine`).
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
import time
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import quote

import faust
import mode
from faust.web import Request, Response, View

from worker.core import events, handler
from worker.core.configtable import ConfigTable
from worker.core.handler import Route
from worker.core.keysets import KeySets
from worker.core.sealed import import_kek
from worker.stream import batches, jwksweb, lag, metrics
from worker.stream.brokerwatch import BrokerWatch
from worker.stream.compileahead import CompileAhead
from worker.stream.configfeed import ConfigFeed
from worker.stream.faustkafka import faust_options
from worker.stream.keysets import KeySetFetcher
from worker.stream.monitor import LeanMonitor
from worker.stream.settings import Settings
from worker.stream.sink import BatchSink, Outgoing
from worker.stream.topics import TopicNames
from worker.stream.transport import KafkaTuning, TunedApp

log = logging.getLogger(__name__)

GIVE_UP_SECONDS = 30.0  # how long a config version waited for in vain is not waited for again


class ConfigFeedService(mode.Service):
    """Runs the config feed for as long as the app runs."""

    def __init__(self, feed: ConfigFeed, **kwargs: Any) -> None:
        self.feed = feed
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.feed.start()

    async def on_stop(self) -> None:
        await self.feed.stop()


class KeySetFetcherService(mode.Service):
    """Runs the jwks_url fetcher thread for as long as the app runs."""

    def __init__(self, fetcher: KeySetFetcher, **kwargs: Any) -> None:
        self.fetcher = fetcher
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self.fetcher.start()

    async def on_stop(self) -> None:
        self.fetcher.stop()


def _static_member_url(instance_id: str | None) -> dict[str, Any]:
    # A static member rejoining gets its previous assignment back from the
    # broker, and Faust's assignor insists that it names this worker's URL
    # (host and web port): derive the URL from the instance id, so that a
    # restart on another port or address still matches. The URL serves only
    # Faust's table routing, which this app does not use.
    return {} if instance_id is None else {"canonical_url": f"http://{quote(instance_id, safe='')}.static"}


def create_app(settings: Settings) -> faust.App:
    names = TopicNames(settings.topic_prefix)
    # Faust wants a data dir even without tables; keep it out of the cwd.
    data_dir = settings.data_dir or os.path.join(tempfile.gettempdir(), f"jwtgen-{settings.group_id}")
    app = TunedApp(
        settings.group_id,
        datadir=data_dir,
        broker_session_timeout=settings.session_timeout_seconds,
        # Static membership (KIP-345) when an instance id is set: a worker that
        # restarts within the session timeout gets its partitions back without
        # a rebalance of the group.
        consumer_group_instance_id=settings.group_instance_id,
        **_static_member_url(settings.group_instance_id),
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 5),
        **faust_options(settings.kafka),
        key_serializer="raw",
        value_serializer="raw",
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_enabled=True,
        # No tables, no leader election: the config table is our own feed.
        topic_disable_leader=True,
        # The worker creates its topics itself (ensure_topics); Faust declaring
        # any would need CREATE, which a least-privilege principal lacks.
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        topic_replication_factor=settings.replication_factor,
        topic_partitions=settings.request_partitions,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        producer_linger_ms=5,
        # One record batch per partition per agent batch fits (500 answers).
        producer_max_batch_size=512 * 1024,
        producer_acks=-1,
        stream_buffer_maxsize=4 * settings.batch_max,
        broker_max_poll_records=settings.batch_max,
        # Faust's statistics per event are read by nothing here (monitor.py).
        Monitor=LeanMonitor,
    )
    app.tuning = KafkaTuning(
        reconnect_backoff_max_seconds=settings.reconnect_backoff_max_seconds,
        # The consumer stop and the revocation commit fit in the whole stop's bound.
        consumer_stop_seconds=min(5.0, settings.shutdown_timeout_seconds / 3),
        revoke_commit_seconds=settings.session_timeout_seconds / 2,
        leave_group_on_stop=settings.leave_group_on_shutdown,
    )
    requests_topic = app.topic(names.requests, key_type=bytes, value_type=bytes, internal=False)
    # Raw bytes to one agent: its records need no decoding, and skip Faust's conductor (delivery.py).
    app.raw_topics.add(names.requests)

    def fatal(exc: BaseException) -> None:
        # Answers may be lost in flight: exit at once, before Faust commits
        # the offsets of the requests they answer (at-least-once), and let the
        # supervisor restart the worker. mode's crash() only flags the app.
        log.critical("answers could not be sent (%s): exiting so the requests are redelivered", type(exc).__name__)
        logging.shutdown()
        os._exit(70)

    routes = {Route.TRUE: names.true, Route.FAILURE: names.failure, Route.DEADLETTER: names.deadletter}
    # Faust's own producer carries the answers, and its flush before every offset
    # commit first hands over what the sink holds: a request is committed only once answered.
    sink = BatchSink(lambda: app.producer._producer, fatal)  # type: ignore[attr-defined]
    app.before_flush.append(sink.drain)
    # Newer config versions waited for in vain: (id, version) -> until when not
    # to wait again, so one orchestrator asking for a version that never comes
    # cannot slow every batch down.
    given_up: dict[tuple[str, int | None], float] = {}
    keysets = KeySets()
    table = ConfigTable(kek=import_kek(settings.kek), keysets=keysets)
    feed = ConfigFeed(
        settings.kafka, names.configs, table, settings.reconnect_backoff_max_seconds, ahead=CompileAhead(table)
    )
    app.service(ConfigFeedService(feed))  # type: ignore[arg-type]
    # Lag, assignment and rebalances of the requests topic; the key sets verifiers fetch.
    progress = lag.install(app, names.requests, settings.group_id)
    jwksweb.install(app, table)
    fetcher = KeySetFetcher(keysets, settings.jwks_ca_file, settings.jwks_timeout_seconds)
    app.service(KeySetFetcherService(fetcher))  # type: ignore[arg-type]

    def assigned() -> int:
        try:
            return len(app.consumer.assignment())
        except Exception:  # the consumer has not started yet
            return 0

    watch = BrokerWatch(feed.probe, settings.kafka.describe(), assigned, settings.log_repeat_seconds)
    app.service(watch)  # type: ignore[arg-type]

    @app.agent(requests_topic, name="answer-requests")
    async def answer_requests(stream: faust.StreamT[bytes]) -> None:
        # A plain coroutine, not an async generator: Faust would otherwise send
        # each yielded value to any topic named in a request's Faust-Ag-ReplyTo header.
        await feed.ready.wait()
        # Everything alive now (modules, the app, the config table) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it
        # (30-60 ms with the event loop stopped, every few seconds under load).
        gc.collect()
        gc.freeze()
        # Batches taken straight from the agent's channel, acked once answered (batches.py).
        async for batch in batches.take_events(stream, settings.batch_max, settings.batch_within_seconds):
            metrics.IN_FLIGHT.inc(len(batch))
            try:
                await _answer_batch(batch)
            except Exception as exc:
                # Faust would ack this batch's events on the way out: stop
                # before any commit, so another worker answers them again.
                fatal(exc)
            finally:
                metrics.IN_FLIGHT.dec(len(batch))

    async def _answer_batch(batch: Any) -> None:
        messages = [event.message for event in batch]
        parsed = [events.parse_request(message.value) for message in messages]
        # One wait per batch, not per record: a request for a config (version)
        # not seen yet may simply be behind us on the configs topic.
        behind = [
            p for p in parsed if isinstance(p, events.Request) and table.needs_newer(p.config_id, p.config_version)
        ]
        if behind:
            metrics.CONFIG_WAITS.inc()
            # A newer version of a known config is on its way (the orchestrator
            # has seen it): wait for it too, not only for what is already
            # published. An unknown id only waits for the topic's current end.
            now = time.monotonic()
            ahead = {
                (p.config_id, p.config_version)
                for p in behind
                if p.config_id in table and given_up.get((p.config_id, p.config_version), 0.0) < now
            }
            arrived = (lambda: not any(table.needs_newer(cid, v) for cid, v in ahead)) if ahead else None
            if not await feed.catch_up(settings.config_wait_seconds, until=arrived):
                for wanted in ahead:
                    if table.needs_newer(*wanted):
                        given_up[wanted] = now + GIVE_UP_SECONDS
                if len(given_up) > 10_000:  # a bound on memory, not a cache policy
                    given_up.clear()
        compilations = table.compilations
        outgoing: list[Outgoing] = []
        # Metrics are gathered per batch and recorded once it is handed over.
        outcomes: Counter[tuple[Route, str]] = Counter()
        seconds: defaultdict[str, list[float]] = defaultdict(list)  # token build times by alg
        for message, request in zip(messages, parsed, strict=True):
            record = handler.RecordRef(
                message.topic, message.partition, message.offset, message.timestamp, message.key, message.value
            )
            result = handler.answer(record, request, table, settings.max_answer_bytes, settings.audit)
            headers = message.headers or ()
            outgoing.append((routes[result.route], result.key, result.value, headers))
            if result.audit is not None:  # in the same batch as its answer: committed only once both are sent
                outgoing.append((names.audit, result.key, result.audit, headers))
            outcomes[(result.route, result.code)] += 1
            if result.route is Route.TRUE:
                seconds[result.alg].append(result.seconds)
        await sink.send(outgoing)
        _handed_over(messages)
        metrics.BATCH_SIZE.observe(len(messages))
        for (route, code), count in outcomes.items():
            metrics.ANSWERS.labels(route.value, code).inc(count)
        for alg, took in seconds.items():
            metrics.observe_many(metrics.REQUEST_SECONDS.labels(metrics.alg_label(alg)), took)
        if table.compilations != compilations:
            metrics.CONFIG_COMPILATIONS.inc(table.compilations - compilations)

    def _handed_over(messages: list[Any]) -> None:
        # The answers are queued for sending (the sink hands them over, and every commit waits
        # for that): end-to-end latency and answered offsets (lag).
        now = time.time()
        metrics.observe_many(
            metrics.END_TO_END_SECONDS,
            [max(0.0, now - m.timestamp) for m in messages if m.timestamp is not None and m.timestamp > 0],
        )
        progress.answered_all(messages)

    @app.page("/healthz")
    async def healthz(view: View, request: Request) -> Response:
        # Readiness: fails while the config table is behind or Kafka is
        # unreachable, so rollouts wait; liveness is /livez.
        held, invalid = table.summary()
        ready = feed.ready.is_set() and watch.reachable
        body = {
            "ready": ready,
            "config_table_ready": feed.ready.is_set(),
            "kafka": {"reachable": watch.reachable, "unreachable_seconds": round(watch.unreachable_for(), 1)},
            "partitions": {"assigned": assigned(), "rebalancing": bool(app.rebalancing)},
            "configs": held,
            "invalid_configs": invalid,
        }
        return view.json(body, status=200 if ready else 503)

    @app.page("/livez")
    async def livez(view: View, request: Request) -> Response:
        # Answers while the event loop runs. Never about Kafka: restarting a
        # worker does not bring a broker back, and it does lose its place.
        return view.json({"alive": True})

    @app.page("/metrics")
    async def prometheus(view: View, request: Request) -> Response:
        return view.bytes(metrics.exposition(), content_type=metrics.CONTENT_TYPE)

    return app
