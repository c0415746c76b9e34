"""Tools for development and tests, shipped with the package: the local Kafka broker."""
