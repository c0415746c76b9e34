"""Faults under a steady load: broker restarts and outages, worker kills, clean stops, joins and leaves.

Runs workers against a broker of its own, sends requests at a steady rate the
whole time, and between phases does one fault after another (chosen in turn,
or at random with --seed). At the end it waits for every answer and prints
how many requests were sent, lost (never answered), duplicated (answered more
than once) and answered twice *differently* (which must never happen), then,
separately, how long partitions stand still after a SIGKILL with and without
static group membership.

    .venv/bin/python -m bench.chaos                          # about 10 minutes
    .venv/bin/python -m bench.chaos --rounds 4 --no-stand-still

Not part of CI: the integration tests run each fault once, bounded.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.support.configs import hs256_config, request_for
from tests.support.kafkaio import KafkaIO, WorkerProcess, unique_prefix
from tests.support.opsio import Audit, OwnBroker, SteadyLoad, kill, spawn, stand_still, worker

FAULTS = ("kill", "stop", "join-leave", "broker-restart", "kill", "outage")


class Chaos:
    def __init__(self, broker: OwnBroker, tmp: Path, workers: int, rate: float, static: bool) -> None:
        self.broker = broker
        self.tmp = tmp
        self.prefix = unique_prefix("chaos")
        self.static = static
        self.workers: list[WorkerProcess | None] = [None] * workers
        self.starts = 0
        self.io = KafkaIO(broker.bootstrap, self.prefix)
        self.rate = rate
        self.load: SteadyLoad | None = None
        self.done: Counter[str] = Counter()
        self.history: list[tuple[float, str]] = [(0.0, "none")]  # (epoch seconds, fault) as they began

    def new_worker(self, slot: int) -> WorkerProcess:
        self.starts += 1
        env: dict[str, str | int | float] = {"JWTGEN_LOG_REPEAT_SECONDS": 30}
        if self.static:
            env["JWTGEN_GROUP_INSTANCE_ID"] = f"chaos-{slot}"
        return worker(self.prefix, self.broker.bootstrap, self.tmp / f"w{slot}-{self.starts}.log", **env)

    def without_kafka(self, seconds: float) -> None:
        """The broker is down: orchestrators cannot publish either, so no load; answers already sent are read."""
        assert self.load is not None
        self.broker.stop()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(1)
        self.broker.start()
        self.load.skip()

    def healthy(self, proc: WorkerProcess, timeout: float = 120) -> None:
        assert self.load is not None
        deadline = time.monotonic() + timeout
        while proc.health()[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not healthy:\n{proc.log()[-3000:]}")
            self.load.tick()

    def start(self) -> None:
        for slot in range(len(self.workers)):
            self.workers[slot] = self.new_worker(slot).start()
        self.io.open()
        self.io.put_config(hs256_config("chaos"))
        self.load = SteadyLoad(self.io, lambda: request_for("chaos"), self.rate)

    def fault(self, kind: str, rng: random.Random) -> None:
        assert self.load is not None
        self.history.append((time.time(), kind))
        slot = rng.randrange(len(self.workers))
        current = self.workers[slot]
        assert current is not None and current.proc is not None
        if kind == "kill":
            kill(current)
            self.workers[slot] = spawn(self.new_worker(slot))
            self.healthy(self.workers[slot])  # type: ignore[arg-type]
        elif kind == "stop":
            current.proc.send_signal(signal.SIGTERM)
            while current.proc.poll() is None:
                self.load.tick()
            self.workers[slot] = spawn(self.new_worker(slot))
            self.healthy(self.workers[slot])  # type: ignore[arg-type]
        elif kind == "join-leave":
            extra = spawn(self.new_worker(len(self.workers)))
            self.healthy(extra)
            self.load.run_for(5)
            assert extra.proc is not None
            extra.proc.send_signal(signal.SIGTERM)
            while extra.proc.poll() is None:
                self.load.tick()
        elif kind == "broker-restart":
            self.without_kafka(0)
        elif kind == "outage":
            self.without_kafka(30)
        self.done[kind] += 1

    def finish(self, drain_seconds: float) -> Audit:
        assert self.load is not None
        self.load.drain(drain_seconds)
        return Audit(self.io, self.load.keys)

    def duplicates_by_fault(self, audit: Audit) -> Counter[str]:
        """Each duplicated request charged to the last fault begun before its second answer (the redelivery)."""
        charged: Counter[str] = Counter()
        for found in audit.duplicated.values():
            again = found[1][1].get("processed_at", 0) / 1000
            charged[next(kind for at, kind in reversed(self.history) if at <= again)] += 1
        return charged

    def close(self) -> None:
        for proc in self.workers:
            if proc is not None:
                proc.stop()
        self.io.close()


def chaos_run(broker: OwnBroker, tmp: Path, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    chaos = Chaos(broker, tmp, args.workers, args.rate, args.static)
    try:
        chaos.start()
        assert chaos.load is not None
        started = time.monotonic()
        for round_ in range(args.rounds):
            kind = rng.choice(FAULTS) if args.seed is not None else FAULTS[round_ % len(FAULTS)]
            chaos.load.run_for(args.pause)
            print(f"  round {round_ + 1}/{args.rounds}: {kind}", flush=True)
            chaos.fault(kind, rng)
        chaos.load.run_for(args.pause)
        audit = chaos.finish(args.drain)
        minutes = (time.monotonic() - started) / 60
        faults = ", ".join(f"{n} {kind}" for kind, n in sorted(chaos.done.items()))
        print(f"\n{minutes:.1f} min, {args.workers} workers at {args.rate:.0f} req/s, faults: {faults}")
        print(f"  {audit}")
        by_fault = ", ".join(f"{kind} {n}" for kind, n in sorted(chaos.duplicates_by_fault(audit).items()))
        print(f"  duplicated requests by the fault before them: {by_fault or 'none'}")
    finally:
        chaos.close()


def stand_still_after_kill(broker: OwnBroker, tmp: Path, static: bool, rate: float) -> tuple[float, float, Audit]:
    """Two workers under load; one is SIGKILLed and restarted at once (as Kubernetes would)."""
    prefix = unique_prefix("standstill")
    ids = ({"JWTGEN_GROUP_INSTANCE_ID": "a"}, {"JWTGEN_GROUP_INSTANCE_ID": "b"}) if static else ({}, {})
    label = "static" if static else "dynamic"
    a = worker(prefix, broker.bootstrap, tmp / f"{label}-a.log", **ids[0]).start()
    b = worker(prefix, broker.bootstrap, tmp / f"{label}-b.log", **ids[1]).start()
    again: WorkerProcess | None = None
    io = KafkaIO(broker.bootstrap, prefix).open()
    try:
        io.put_config(hs256_config("still"))
        load = SteadyLoad(io, lambda: request_for("still"), rate)
        load.run_for(8)
        killed_at = time.time()
        kill(b)
        again = spawn(worker(prefix, broker.bootstrap, tmp / f"{label}-b2.log", **ids[1]))
        deadline = time.monotonic() + 120
        while again.health()[0] != 200 and time.monotonic() < deadline:
            load.tick()
        load.run_for(25)  # past the session timeout (15 s): whatever it causes is over
        load.drain(90)
        silence, partition = stand_still(io, load.keys, killed_at - 1)
        return silence, partition, Audit(io, load.keys)
    finally:
        io.close()
        a.stop()
        b.stop()
        if again is not None:
            again.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200, help="requests per second, all the time")
    parser.add_argument("--rounds", type=int, default=12, help="faults, one after another")
    parser.add_argument("--pause", type=float, default=8, help="seconds of plain load between faults")
    parser.add_argument("--drain", type=float, default=180, help="seconds allowed for the last answers")
    parser.add_argument("--seed", type=int, help="random faults (default: each kind in turn)")
    parser.add_argument("--static", action="store_true", help="workers use static group membership")
    parser.add_argument("--no-stand-still", dest="stand_still", action="store_false")
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # our own clients, while the broker is away
    tmp = Path(tempfile.mkdtemp(prefix="jwtgen-chaos-"))
    broker = OwnBroker(tmp / "broker").start()
    print(f"broker {broker.bootstrap}, logs in {tmp}", flush=True)
    try:
        chaos_run(broker, tmp, args)
        if args.stand_still:
            print("\nSIGKILL of one of two workers, restarted at once; longest time without an answer:")
            for static in (False, True):
                silence, partition, audit = stand_still_after_kill(broker, tmp, static, args.rate)
                label = "static membership " if static else "dynamic membership"
                print(f"  {label}: any partition {partition:5.1f}s, all partitions {silence:5.1f}s  ({audit})")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
