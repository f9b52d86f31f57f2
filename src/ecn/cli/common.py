"""What every command shares: one console, one error exit, the Lightning log fix."""

from __future__ import annotations

import logging
import warnings
from typing import NoReturn

import typer
from rich.console import Console

console = Console(emoji=False)  # split names like "random:train:" are not emoji codes
err_console = Console(emoji=False, stderr=True)  # errors and notes: stderr, not the output


def fail(exc: Exception) -> NoReturn:
    """One clear line for a user error on stderr, exit status 2 (never a traceback)."""
    err_console.print(f"error: {exc}", markup=False, style="red", highlight=False, soft_wrap=True)
    raise typer.Exit(2) from None


def quiet_lightning() -> None:
    """Lightning's loggers, after it is imported: no second handler (the ``lightning`` logger
    has its own and also propagates, so every line came twice), no INFO banners or tips
    (devices and stopping reasons are in our own logs and ``results.json``), warnings kept."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
        lg.setLevel(logging.WARNING)
    # torch 2.13 deprecates a pytree helper Lightning 2.6 still calls; not the user's concern
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
