"""Reviews (复盘) of a node and period: storing one and reading them by node or version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Review
from service.db.paging import keyset_page
from service.domain.paging import Page, PageRequest


async def add_review(session: AsyncSession, review: Review) -> Review:
    session.add(review)
    await session.flush()
    await session.refresh(review)
    return review


async def reviews_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Review | None]:
    stmt = select(Review).where(
        Review.id == func.any(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))
    )
    rows = {r.id: r for r in await session.scalars(stmt)}
    return [rows.get(i) for i in ids]


def _scope(stmt: Any, version_id: int, node_key: int | None) -> Any:
    stmt = stmt.where(Review.version_id == version_id)
    if node_key is not None:
        stmt = stmt.where(Review.node_key == node_key)
    return stmt


async def reviews_page(
    session: AsyncSession, version_id: int, node_key: int | None, request: PageRequest
) -> Page[Review]:
    """A version's (or one node's) reviews in the order they were recorded."""
    stmt = _scope(select(Review), version_id, node_key)
    return await keyset_page(session, stmt, [Review.id], request, lambda r: (r.id,))


async def reviews_count(session: AsyncSession, version_id: int, node_key: int | None) -> int:
    stmt = _scope(select(func.count()).select_from(Review), version_id, node_key)
    return int(await session.scalar(stmt) or 0)
