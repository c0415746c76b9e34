"""JWT Generator worker: the "JWT - Generator" node of an identity-flow platform, over Kafka."""

__version__ = "0.1.0"
