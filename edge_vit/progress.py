"""A rich progress bar on stderr, or nothing (a log file gets no half-drawn bars):
``with progress_bar(on, "label", n) as advance: advance(1)``. With ``fields`` (initial
values) and ``show`` (a format of them), each ``advance(n, **fields)`` also updates the
running figures the bar shows, e.g. a training epoch's loss and accuracy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(enabled: bool, description: str, total: int, fields: dict | None = None,
                 show: str | None = None) -> Iterator[Callable[..., None]]:
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda n, **changes: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn()]
    if show:
        columns.append(TextColumn(show, markup=False))
    else:
        columns.append(TimeElapsedColumn())
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total, **(fields or {}))
        yield lambda n, **changes: bar.update(task, advance=n, **changes)
