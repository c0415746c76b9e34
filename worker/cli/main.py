"""`jwtgen`: the command line of the JWT Generator worker (docs/contract.md, "Commands").

Each command group lives in a module of its own; offline commands (config
validate, keys, preview) never import the Faust app (`lint-imports` checks it).
"""

from __future__ import annotations

import click

from worker.cli.broker import broker
from worker.cli.configs import config
from worker.cli.keys import keys
from worker.cli.preview import preview
from worker.cli.record import record
from worker.cli.replay import replay
from worker.cli.request import request
from worker.cli.run import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="jwtgen-worker")
def main() -> None:
    """The JWT - Generator node as a Kafka worker.

    Flow orchestrators publish node-execution events to <prefix>.requests; the
    worker looks up the node config (published to <prefix>.configs), builds
    and signs (optionally encrypts) a JWT and answers on <prefix>.true or
    <prefix>.failure.

    \b
    Quick start (local broker):
      jwtgen broker start            # Apache Kafka on localhost:9092
      jwtgen worker &                # answers requests, web on :6066
      jwtgen keys generate --type oct --alg HS256
      jwtgen preview examples/login-token.json --store store.json
      jwtgen config put examples/login-token.json
      jwtgen request examples/request.json
    """


for command in (broker, worker, config, request, keys, preview, record, replay):
    main.add_command(command)
