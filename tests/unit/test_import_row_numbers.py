"""The row numbers of copied sales (``service.db.imports.RowNumbers``): marks at gaps only."""

from service.db.imports import RowNumbers


def test_row_numbers_follow_gaps() -> None:
    numbers = RowNumbers()
    # rows 1, 2, 3 copied; 4 and 5 blank or rejected; 6, 7 copied; 8 rejected; 9 copied
    copied = [1, 2, 3, 6, 7, 9]
    offset = None
    for ordinal, row in enumerate(copied, start=1):
        if row - ordinal != offset:
            offset = row - ordinal
            numbers.mark(ordinal, row)
    assert [numbers.row(o) for o in range(1, 7)] == copied
    assert len(numbers.ordinals) == 3  # one mark per gap, not per row
