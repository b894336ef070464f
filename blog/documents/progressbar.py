"""A document job's progress(step, done, total) drawn in the terminal, for the CLI faces
of the document features (`flask export`, `flask import wordpress`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


class TerminalProgress:
    """A click progress bar for `step`, shown once its total is known."""

    def __init__(self, step: str, label: str) -> None:
        self.step, self.label = step, label
        self.bar: ProgressBar[int] | None = None

    def __call__(self, step: str, done: int, total: int | None) -> None:
        if step == self.step and total is not None:
            if self.bar is None:
                self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
                self.bar.__enter__()
            self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
