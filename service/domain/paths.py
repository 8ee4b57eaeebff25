"""Materialized paths: ``"12.40.41."`` is the node (or member) 41 under 40 under 12."""

from __future__ import annotations


def path_ids(path: str) -> list[int]:
    """The ids along a path, root first: ``"12.40."`` -> [12, 40]."""
    return [int(p) for p in path.split(".") if p]
