"""A data table that is refilled in place: a busy fleet redraws it a few times a second, and
clearing and re-adding every row each time costs the layout and the cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

Cell = str | Text
Row = tuple[str, Sequence[Cell]]
"""A row's key (unique in its table) and its cells."""


def _look(cell: Cell) -> object:
    """What a cell shows: Text compares by plain text and spans only, not its own style."""
    if isinstance(cell, Text):
        return (cell.plain, str(cell.style), tuple(cell.spans))
    return cell


class Table(DataTable[Any]):
    """``fill(rows)`` changes only what changed: cells of rows that stayed are updated in place;
    when rows come, go or move, the table is rebuilt and the cursor put back on its row."""

    def __init__(self, *, id: str, zebra_stripes: bool = False) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=zebra_stripes)
        self._shown: list[tuple[str, tuple[object, ...]]] = []
        self.rows_shown: list[Row] = []
        """The rows as last filled, in order."""

    @property
    def selected(self) -> str | None:
        """The key of the row under the cursor (``None`` for an empty table)."""
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return None if key is None else str(key)

    def fill(self, rows: Sequence[Row]) -> None:
        looks = [(key, tuple(_look(c) for c in cells)) for key, cells in rows]
        self.rows_shown = list(rows)
        if looks == self._shown:
            return
        keys = [key for key, _ in rows]
        columns = list(self.columns)
        if keys == [key for key, _ in self._shown]:
            for (key, cells), (_, was), (_, now) in zip(rows, self._shown, looks, strict=True):
                for column, cell, a, b in zip(columns, cells, was, now, strict=True):
                    if a != b:
                        self.update_cell(key, column, cell, update_width=True)
            self._shown = looks
            return
        cursor, selected = self.cursor_row, self.selected
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._shown = looks
        self.put_cursor(selected, cursor)

    def clear(self, columns: bool = False) -> Table:
        self._shown, self.rows_shown = [], []
        super().clear(columns)
        return self

    def put_cursor(self, key: str | None, fallback: int) -> None:
        """Back on the row with ``key``, else near where the cursor was."""
        if self.row_count == 0:
            return
        try:
            row = self.get_row_index(key) if key is not None else fallback
        except RowDoesNotExist:  # the row is gone (dismissed, uninstalled): stay near it
            row = fallback
        self.move_cursor(row=min(row, self.row_count - 1))
