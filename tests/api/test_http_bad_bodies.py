"""Hostile and broken request bodies: never a 5xx, never a body that is not JSON.

Every body the strict parser refuses (too deep, numbers that do not fit, invalid
UTF-8 or lone surrogates, duplicate keys, NaN, garbage) is a 400 GraphQL error
``INVALID_JSON`` whose message names the problem. Documents that are too deep or
too big are GraphQL request errors: 400 for a client accepting
``application/graphql-response+json``, 200 without ``data`` for ``application/json``.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from service.graphql_http import MAX_JSON_DEPTH
from tests.conftest import token

GRAPHQL_RESPONSE = "application/graphql-response+json"
Q = b'"query": "{ plans { totalCount } }"'
VARS = b'"query": "query($v: Int) { plans(first: $v) { totalCount } }"'


def nested(levels: int, inner: bytes = b"1") -> bytes:
    return b"[" * levels + inner + b"]" * levels


def nested_objects(levels: int) -> bytes:
    return b'{"a": ' * levels + b"1" + b"}" * levels


async def send(client: httpx.AsyncClient, body: bytes, accept: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token()}", "Content-Type": "application/json"}
    if accept:
        headers["Accept"] = accept
    return await client.post("/graphql", content=body, headers=headers)


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] in (
        "application/json",
        GRAPHQL_RESPONSE,
    )
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    return error  # type: ignore[no-any-return]


BAD_BODIES = {
    # nesting
    "array-1000-deep": (nested(1000), f"nested deeper than {MAX_JSON_DEPTH} levels"),
    "object-1000-deep": (nested_objects(1000), "nested deeper"),
    "array-100000-deep": (nested(100_000), "nested deeper"),
    "variables-1000-deep": (
        b"{" + VARS + b', "variables": {"v": ' + nested(1000) + b"}}",
        "nested",
    ),
    "variables-just-too-deep": (
        b"{" + VARS + b', "variables": {"v": ' + nested(MAX_JSON_DEPTH - 1) + b"}}",
        "nested deeper",
    ),
    "extensions-1000-deep": (
        b"{" + Q + b', "extensions": ' + nested_objects(1000) + b"}",
        "nested",
    ),
    # numbers
    "integer-5000-digits": (
        b"{" + VARS + b', "variables": {"v": 1' + b"0" * 5000 + b"}}",
        "integer",
    ),
    "integer-over-64-bits": (
        b"{" + VARS + b', "variables": {"v": 18446744073709551616}}',
        "64 bits",
    ),
    "integer-under-64-bits": (
        b"{" + VARS + b', "variables": {"v": -9223372036854775809}}',
        "64 bits",
    ),
    "float-overflow": (b"{" + VARS + b', "variables": {"v": 1e400}}', "out of range"),
    "float-negative-overflow": (b"{" + VARS + b', "variables": {"v": -1.5e999}}', "out of range"),
    "float-5000-digits": (
        b"{" + VARS + b', "variables": {"v": 9' + b"9" * 5000 + b".5}}",
        "out of range",
    ),
    "nan": (b"{" + VARS + b', "variables": {"v": NaN}}', "NaN"),
    "infinity": (b"{" + VARS + b', "variables": {"v": -Infinity}}', "Infinity"),
    # text
    "invalid-utf8": (b'{"query": "{ plans { totalCount } }\xff"}', "UTF-8 (byte 35)"),
    "overlong-utf8": (b'{"query": "\xc0\xaf"}', "UTF-8"),
    "encoded-surrogate": (b'{"query": "\xed\xa0\x80"}', "UTF-8"),
    "truncated-utf8": (b'{"query": "\xe2\x82', "UTF-8"),
    "utf16": ('{"query": "{ plans { totalCount } }"}'.encode("utf-16"), "UTF-8"),
    "bom": (b"\xef\xbb\xbf{" + Q + b"}", "BOM"),
    "lone-surrogate-value": (b"{" + Q + b', "variables": {"v": "\\udead"}}', "surrogate"),
    "lone-surrogate-key": (b"{" + Q + b', "variables": {"\\ud800": 1}}', "surrogate"),
    "lone-surrogate-query": (b'{"query": "{ plans { totalCount } } # \\uDBFF"}', "surrogate"),
    "raw-control-character": (b'{"query": "{ plans\x01 }"}', "control character"),
    # structure
    "duplicate-query": (b'{"query": "{ me { id } }", ' + Q + b"}", 'duplicate key "query"'),
    "duplicate-variable": (b"{" + VARS + b', "variables": {"v": 1, "v": 2}}', 'duplicate key "v"'),
    "empty": (b"", "empty"),
    "blank": (b"  \n ", "empty"),
    "trailing-garbage": (b"{" + Q + b"} {}", "Extra data"),
    "truncated": (b"{" + Q, "line 1"),
    "single-quotes": (b"{'query': '{ plans { totalCount } }'}", "double quotes"),
}


@pytest.mark.parametrize("accept", [None, GRAPHQL_RESPONSE])
@pytest.mark.parametrize(("body", "named"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_a_bad_body_is_a_400_naming_the_problem(
    client: httpx.AsyncClient, body: bytes, named: str, accept: str | None
) -> None:
    error = refused(await send(client, body, accept), 400, "INVALID_JSON")
    assert named in error["message"], error["message"]


async def test_a_body_at_the_nesting_limit_is_parsed(client: httpx.AsyncClient) -> None:
    """64 levels are JSON we read; GraphQL then refuses the value for an Int."""
    body = b"{" + VARS + b', "variables": {"v": ' + nested(MAX_JSON_DEPTH - 2) + b"}}"
    error = refused(await send(client, body, GRAPHQL_RESPONSE), 400, "BAD_USER_INPUT")
    assert "Int cannot represent" in error["message"]


async def test_good_unicode_and_big_fitting_numbers_pass(client: httpx.AsyncClient) -> None:
    body = (
        b'{"query": "{ plans { totalCount } } # \\ud83d\\ude00 \xc3\xa9", '
        b'"variables": {"big": 9223372036854775807, "small": -9223372036854775808, '
        b'"f": 1.7976931348623157e308}, "extensions": {}}'
    )
    response = await send(client, body)
    assert response.status_code == 200, response.text
    assert {k: v for k, v in response.json().items() if k != "extensions"} == {
        "data": {"plans": {"totalCount": 0}}
    }


DEEP_DOCUMENTS = {
    "selections-1000-deep": ("{ plans " + "{ edges " * 1000 + "}" * 1001, "nested too deeply"),
    "list-value-300-deep": (
        "{ plans(first: " + "[" * 300 + "1" + "]" * 300 + ") { totalCount } }",
        "nested too deeply",
    ),
    "object-value-300-deep": (
        '{ node(id: "x", a: ' + "{a: " * 300 + "1" + "}" * 300 + ") { id } }",
        "nested too deeply",
    ),
    "huge-int-literal": ("{ plans(first: 1" + "0" * 5000 + ") { totalCount } }", "4300 digits"),
    "huge-float-literal": ("{ plans(first: 1e400) { totalCount } }", "Int cannot"),
    "many-tokens": ("{ plans { " + "totalCount " * 20_000 + "} }", "tokens"),
}


@pytest.mark.parametrize(("document", "named"), DEEP_DOCUMENTS.values(), ids=DEEP_DOCUMENTS.keys())
async def test_a_deep_or_huge_document_is_a_request_error(
    client: httpx.AsyncClient, document: str, named: str
) -> None:
    body = orjson.dumps({"query": document})
    modern = await send(client, body, GRAPHQL_RESPONSE)
    assert modern.status_code == 400, modern.text
    legacy = await send(client, body)
    assert legacy.status_code == 200
    for response in (modern, legacy):
        errors = response.json()["errors"]
        assert "data" not in response.json()
        assert any(named in e["message"] for e in errors), errors
        assert all(e["extensions"]["code"].startswith("GRAPHQL_") for e in errors), errors
        assert all(e["extensions"]["requestId"] == response.headers["x-request-id"] for e in errors)


async def test_fragments_nested_1000_deep_are_refused(client: httpx.AsyncClient) -> None:
    fragments = (
        " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(1000))
        + " fragment F1000 on Query { plans { totalCount } }"
    )
    response = await send(
        client, orjson.dumps({"query": "{ ...F0 } " + fragments}), GRAPHQL_RESPONSE
    )
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nests too deeply" in error["message"]
