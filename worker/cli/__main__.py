"""`python -m worker.cli` runs `jwtgen`."""

import os

from worker.cli.main import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")
main()
