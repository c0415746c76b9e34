"""The Faust shell: the app, its agent and web views, the config feed, the answer sink, topics, settings, metrics.

It only moves records between Kafka and `worker.core`.
"""
