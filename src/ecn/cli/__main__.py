"""``python -m ecn.cli``: the same app as the ``ecn`` console script (DDP re-launches use it)."""

from ecn.cli import app

app()
