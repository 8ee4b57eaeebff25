"""Schemathesis hooks for the live-server fuzz run of ``.ci/schemathesis``.

Loaded with ``SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks``. Two things:

- strategies for our custom scalars (schemathesis knows only GraphQL's own):
  amounts as strings, integers and number literals, hostile ones included;
- the check ``no_server_error``, what "no answer is a server error" means for this
  API. Schemathesis' own ``not_a_server_error`` reads, for GraphQL, every error
  that has a ``path`` and no Apollo or graphql-java code (``BAD_USER_INPUT`` ...)
  as a server error; our read errors are such errors by design (a bad id, cursor or
  page size is ``INVALID_ID``, ``INVALID_VALUE``, ``OUT_OF_RANGE`` with the
  argument in ``extensions.field``; see ``service.api.errors``), so it would flag
  every one. ``no_server_error`` keeps its status rule (any 5xx fails) and reads
  the body by our contract: an error is a server error when it is masked
  (``extensions.code`` INTERNAL) or carries no code at all (an unlabelled failure
  in a resolver). A body that is not JSON fails too, except the 400 and 413 with
  which the server refuses a malformed or oversized request as a whole.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import CheckContext
from schemathesis.core.failures import ServerError
from schemathesis.graphql import nodes
from schemathesis.graphql.checks import GraphQLServerError

DECIMALS = [
    "0",
    "1000.00",
    "0.35",
    "-0",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "1E+9999",
    "0.001",
    "9" * 30,
    "92233720368547758.08",
    " 5 ",
    "١٢٣",
    "",
]

schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.sampled_from(DECIMALS).map(nodes.String),
        st.decimals(allow_nan=False, allow_infinity=False).map(str).map(nodes.String),
        st.integers(-(2**70), 2**70).map(nodes.Int),
        st.sampled_from(["1e309", "1.5", "-0.0", "12345678901234567890.123"]).map(nodes.Float),
    ),
)
schemathesis.graphql.scalar(
    "BigIntID",
    st.one_of(
        st.integers(-(2**70), 2**70).map(str).map(nodes.String),
        st.integers(-(2**31), 2**31 - 1).map(nodes.Int),
    ),
)


@schemathesis.check
def no_server_error(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """No 5xx, and no masked (INTERNAL) or unlabelled error in a GraphQL answer."""
    label = case.operation.label
    if response.status_code >= 500:
        raise ServerError(operation=label, status_code=response.status_code)
    if response.status_code in (400, 413) and not _is_json(response):
        return None  # a malformed or oversized request, refused as a whole
    payload = response.json()
    if not isinstance(payload, dict):
        raise GraphQLServerError(operation=label, message="the answer is not an object", errors=[])
    errors = payload.get("errors") or []
    bad = [
        error
        for error in errors
        if (error.get("extensions") or {}).get("code") == "INTERNAL"
        or ("path" in error and not (error.get("extensions") or {}).get("code"))
    ]
    if bad:
        message = "\n\n".join(str(error.get("message")) for error in bad)
        raise GraphQLServerError(operation=label, message=message, errors=bad)
    return None


def _is_json(response: Any) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True
