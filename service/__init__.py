"""quotatree: versioned sales target trees over GraphQL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("quotatree")
except PackageNotFoundError:  # pragma: no cover - run from a tree without an install
    __version__ = "0+unknown"
