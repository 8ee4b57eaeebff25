"""Answers of queries cached without staleness, and persisted queries.

An answer is cached under (document hash, operation name, variables, caller, data
generation). The data generation (migration 0008) is moved by a trigger on every
table an answer reads, in the writing transaction, so no write path, present or
future, can forget it; each request reads it with one statement before any other
read. An answer read after generation *g* is at least as new as *g*, and any
later change moves the generation past *g*: an entry under the current generation
is exactly what executing the query again would answer. Published versions never
change, so their answers stay until evicted (LRU, bounded by bytes).

Mutations are never cached; answers with errors neither. The caller is part of
the key (subject, roles, the owners a scoped planner acts for): answers are never
shared between callers.

The same key gives the ETag: ``If-None-Match`` with it answers ``304 Not Modified``
while the generation has not moved (``Cache-Control: private``).

Automatic persisted queries (as Apollo Client sends them): a request may carry
``extensions.persistedQuery.sha256Hash`` and no ``query``; a hash the server knows
stands for its document, an unknown one is answered ``PERSISTED_QUERY_NOT_FOUND``
and the client sends the document with its hash, which the server checks and keeps.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from graphql import DocumentNode, OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLError
from prometheus_client import Counter, Gauge
from strawberry.extensions import SchemaExtension

from service.auth import Principal

CACHE_LOOKUPS = Counter(
    "quotatree_response_cache_lookups_total",
    "Query answers looked up in the response cache, by outcome (hit or miss).",
    ["outcome"],
)
CACHE_BYTES = Gauge("quotatree_response_cache_bytes", "Bytes of answers held by the cache.")
CACHE_ENTRIES = Gauge("quotatree_response_cache_entries", "Answers held by the cache.")
NOT_MODIFIED = Counter(
    "quotatree_not_modified_total", "Queries answered 304 Not Modified (If-None-Match)."
)
PERSISTED_QUERIES = Counter(
    "quotatree_persisted_queries_total",
    "Requests by persisted-query hash, by outcome (hit, miss, registered).",
    ["outcome"],
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1024)
def _document(query: str) -> DocumentNode | None:
    try:
        return parse(query)
    except GraphQLError:
        return None


def parsed_document(query: str) -> DocumentNode | None:
    """The document of ``query`` (parsed once, cached); None when it does not parse."""
    return _document(query)


def is_query(query: str, operation_name: str | None) -> bool:
    """True when the operation to run is a query (False when unknown: not cacheable)."""
    document = _document(query)
    if document is None:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    return len(operations) == 1 and operations[0].operation is OperationType.QUERY


def operation_name(query: str, requested: str | None) -> str | None:
    """The name of the operation ``query`` runs (``requested``, or the one operation's
    own name when the client sent none); None for an anonymous one."""
    if requested is not None:
        return requested
    document = _document(query)
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) == 1 and operations[0].name is not None:
        return operations[0].name.value
    return None


def caller_scope(principal: Principal | None) -> tuple[Any, ...]:
    if principal is None:
        return ()
    return (
        principal.subject,
        tuple(sorted(r.value for r in principal.roles)),
        principal.acts_for,
    )


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What an answer depends on, but the generation: the document, the variables,
    the caller's scope and the day (UTC)."""

    digest: str

    @classmethod
    def of(
        cls,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        principal: Principal | None,
    ) -> CacheKey:
        parts = orjson.dumps(
            [
                sha256(query),
                operation_name,
                variables or {},
                list(caller_scope(principal)),
                # Reads whose date defaults to today (attainment, KPIs, alerts as of
                # "now") change at midnight UTC without any write: the day is part of
                # every key, so no answer outlives the day it was read on.
                datetime.now(UTC).date().isoformat(),
            ],
            option=orjson.OPT_SORT_KEYS,
        )
        return cls(hashlib.sha256(parts).hexdigest())

    def etag(self, generation: int) -> str:
        return f'"{generation}-{self.digest[:32]}"'


@dataclass(frozen=True, slots=True)
class Entry:
    data: Any
    extensions: dict[str, Any] | None
    operation_name: str | None
    size: int


class ResponseCache:
    """Answers by (key, generation), least recently used evicted past ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, int], Entry] = OrderedDict()
        self._known: OrderedDict[str, None] = OrderedDict()

    def known(self, key: CacheKey) -> bool:
        """Has an answer for ``key`` been cached (under any generation)? Then the next
        request reads the generation first, to look it up."""
        return key.digest in self._known

    def get(self, key: CacheKey, generation: int) -> Entry | None:
        entry = self._entries.get((key.digest, generation))
        if entry is None:
            CACHE_LOOKUPS.labels("miss").inc()
            return None
        self._entries.move_to_end((key.digest, generation))
        CACHE_LOOKUPS.labels("hit").inc()
        return entry

    def put(
        self,
        key: CacheKey,
        generation: int,
        data: Any,
        extensions: dict[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        size = len(orjson.dumps(data)) + 200
        if size > self.max_bytes // 4:
            return  # one answer may not push out most of the others
        slot = (key.digest, generation)
        old = self._entries.pop(slot, None)
        if old is not None:
            self.bytes -= old.size
        self._entries[slot] = Entry(data, extensions, operation_name, size)
        self.bytes += size
        self._known[key.digest] = None
        self._known.move_to_end(key.digest)
        while len(self._known) > 100_000:
            self._known.popitem(last=False)
        while self.bytes > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
        CACHE_BYTES.set(self.bytes)
        CACHE_ENTRIES.set(len(self._entries))


class PersistedQueries:
    """Documents by their SHA-256 (automatic persisted queries), LRU-bounded."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._documents: OrderedDict[str, str] = OrderedDict()

    def get(self, digest: str) -> str | None:
        document = self._documents.get(digest)
        if document is not None:
            self._documents.move_to_end(digest)
        return document

    def put(self, digest: str, document: str) -> None:
        self._documents[digest] = document
        self._documents.move_to_end(digest)
        while len(self._documents) > self.max_entries:
            self._documents.popitem(last=False)


class ReadGenerationFirst(SchemaExtension):
    """Reads the data generation before any resolver runs, when the response cache
    wants it (``RequestReads.want_generation``).

    An answer may be cached under a generation only if every row it holds was read
    after it. Read lazily, when the request's connection opened, a use case reading
    through a session of its own could read first, and a change committed between
    the two was cached as if the answer held it. Here, in ``on_execute`` after the
    cost check, a refused document still runs no statement at all.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        reads = getattr(self.execution_context.context, "reads", None)
        if reads is not None and reads.want_generation and reads.generation is None:
            await reads.current_generation()
        yield
