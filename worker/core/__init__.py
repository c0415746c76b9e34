"""The token engine: config model and validation, templates, claims, keys, tokens, answers.

Plain synchronous Python. Nothing here imports Kafka, Faust, click or
Prometheus (`lint-imports` checks it), so every rule is unit-tested on plain data.
"""
