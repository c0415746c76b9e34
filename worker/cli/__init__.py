"""`jwtgen`, the command line: operators' commands and the small Kafka client they use."""

from worker.cli.main import main

__all__ = ["main"]
