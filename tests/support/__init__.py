"""What the tests share: builders, keys, JOSE checks, Kafka plumbing, fixtures (registered in tests/conftest.py)."""
