"""The demo company's fixture lives in ``tests.demo.company`` (registered by
``tests/conftest.py`` for every package that uses it); its names stay importable here."""

from tests.demo.company import ADMIN, LINES_PER_MONTH, Demo

__all__ = ["ADMIN", "LINES_PER_MONTH", "Demo"]
