"""Tables people read in a terminal, at 80 columns too (layer: cli).

Each column says whether it identifies a row (``key``: printed whole, never cut to ``jud…``)
and whether it is worth its room on a narrow terminal (``narrow``). When the whole table does not
fit the terminal, the columns that are not ``narrow`` are left out (``--wide`` keeps them all),
and what is left folds onto more lines rather than being cut. Output that is not a terminal (a
pipe, a file) keeps every column, laid out 200 columns wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.table import Table

PIPE_WIDTH = 200
WIDE_HINT = "(--wide shows every column)"


@dataclass(frozen=True)
class Col:
    """One column: its header, whether it identifies the row, whether a narrow view keeps it."""

    header: str
    key: bool = False
    narrow: bool = True
    justify: Literal["left", "right"] = "left"


def console() -> Console:
    """Stdout: the terminal's width, or :data:`PIPE_WIDTH` when it is not a terminal."""
    out = Console(soft_wrap=False)
    return out if out.is_terminal else Console(soft_wrap=False, width=PIPE_WIDTH)


def print_table(
    out: Console,
    title: str,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    wide: bool = False,
) -> bool:
    """Print the table on ``out``; returns whether columns were left out to fit its terminal
    (never for a pipe or a file: scripts get every column). Lines run wider than the terminal
    only when the identifying columns alone do (the terminal wraps them: a name is never cut)."""
    keep = list(range(len(cols)))
    if not (wide or not out.is_terminal) and _natural_width(cols, rows, keep) > out.width:
        keep = [i for i, c in enumerate(cols) if c.narrow]
        while _natural_width(cols, rows, keep) > out.width and not all(cols[i].key for i in keep):
            keep.remove(max(i for i in keep if not cols[i].key))  # the rightmost that may go
    table = Table(title=title)
    for i in keep:
        col = cols[i]
        longest = max((len(r[i]) for r in rows), default=0)
        table.add_column(
            col.header,
            justify=col.justify,
            no_wrap=col.key,
            min_width=max(len(col.header), longest) if col.key else None,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    keys = [i for i in keep if cols[i].key]
    out.print(table, width=max(out.width, _natural_width(cols, rows, keys)))
    return len(keep) < len(cols)


def _natural_width(cols: Sequence[Col], rows: Sequence[Sequence[str]], keep: list[int]) -> int:
    widths = [max([len(cols[i].header), *(len(r[i]) for r in rows)]) for i in keep]
    return sum(widths) + 3 * len(widths) + 1  # rich's box: ' │ ' between cells, edges
