"""The dev kit's ``opinion`` commands: ``stack``, ``replay`` and friends, ``demo``."""

from __future__ import annotations

import typer

from devkit import demo
from devkit.feed import cli as feed_cli
from devkit.stack import cli as stack_cli


def register(app: typer.Typer) -> None:
    stack_cli.register(app)
    feed_cli.register(app)
    demo.register(app)
