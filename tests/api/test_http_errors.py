"""Every error answer of the HTTP layer is a GraphQL response (GraphQL over HTTP).

Each has ``errors[].extensions.code`` and ``errors[].extensions.requestId`` equal to
the ``X-Request-ID`` response header. A client accepting
``application/graphql-response+json`` gets that media type and the specification's
status codes; any other gets ``application/json`` and 200 for GraphQL results.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.auth import Authenticator
from tests.conftest import make_settings, token

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
BOTH = pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
QUERY = "{ plans { totalCount } }"
MUTATION = (
    'mutation { planCreate(input: {name: "P", currency: "EUR", fiscalYear: 2027, '
    'target: "1.00"}) { plan { id } } }'
)


def auth(**headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token()}", **headers}


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def assert_error(
    response: httpx.Response, status: int, code: str, media: str = JSON
) -> dict[str, Any]:
    """A GraphQL error response: status, media type, code, request id; no ``data``."""
    assert response.status_code == status, response.text
    assert media_type(response) == media
    body = response.json()
    assert "data" not in body, body
    assert body["errors"], body
    for error in body["errors"]:
        assert error["message"]
        assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert body["errors"][0]["extensions"]["code"] == code, body
    return body  # type: ignore[no-any-return]


def post(
    client: httpx.AsyncClient, content: bytes | str, accept: str | None = None, **headers: str
) -> Any:
    sent = auth(**{"Content-Type": JSON, **headers})
    if accept is not None:
        sent["Accept"] = accept
    return client.post("/graphql", content=content, headers=sent)


@BOTH
async def test_malformed_json_is_400(client: httpx.AsyncClient, accept: str) -> None:
    response = await post(client, b'{"query": ', accept)
    body = assert_error(response, 400, "INVALID_JSON", accept)
    assert "line 1 column" in body["errors"][0]["message"]


@BOTH
@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"{}", '"query"'),
        (b'{"query": ""}', '"query"'),
        (b'{"query": 5}', '"query" must be a string'),
        (b'{"query": "{ plans { totalCount } }", "variables": [1]}', '"variables"'),
        (b'{"query": "{ plans { totalCount } }", "operationName": true}', '"operationName"'),
        (b'{"query": "{ plans { totalCount } }", "extensions": "x"}', '"extensions"'),
        (b'[{"query": "{ plans { totalCount } }"}]', "batched"),
        (b'"{ plans { totalCount } }"', "JSON object"),
    ],
    ids=["empty", "blank", "number", "variables", "operationName", "extensions", "batch", "str"],
)
async def test_not_a_graphql_request_is_400_naming_the_parameter(
    client: httpx.AsyncClient, accept: str, content: bytes, named: str
) -> None:
    body = assert_error(await post(client, content, accept), 400, "INVALID_REQUEST", accept)
    assert named in body["errors"][0]["message"]


@BOTH
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonlines",
    ],
)
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, accept: str, content_type: str
) -> None:
    response = await post(
        client, '{"query": "{ plans { totalCount } }"}', accept, **{"Content-Type": content_type}
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE", accept)
    assert response.headers["accept-post"] == JSON


async def test_missing_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b'{"query": "{ plans { totalCount } }"}', headers=auth()
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_charset_utf8_is_accepted(client: httpx.AsyncClient) -> None:
    response = await post(
        client,
        '{"query": "{ plans { totalCount } }"}',
        **{"Content-Type": "application/json; charset=UTF-8"},
    )
    assert response.status_code == 200
    assert {k: v for k, v in response.json().items() if k != "extensions"} == {
        "data": {"plans": {"totalCount": 0}}
    }


@BOTH
async def test_a_mutation_with_get_is_405_allowing_post(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await client.get("/graphql", params={"query": MUTATION}, headers=auth(Accept=accept))
    body = assert_error(response, 405, "METHOD_NOT_ALLOWED", accept)
    assert response.headers["allow"] == "POST"
    assert "POST" in body["errors"][0]["message"]


async def test_a_query_with_get_runs(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": QUERY}, headers=auth(Accept=GRAPHQL_RESPONSE)
    )
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert {k: v for k, v in response.json().items() if k != "extensions"} == {
        "data": {"plans": {"totalCount": 0}}
    }


async def test_get_with_variables_that_are_not_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": QUERY, "variables": "{nope"}, headers=auth()
    )
    body = assert_error(response, 400, "INVALID_JSON")
    assert "variables" in body["errors"][0]["message"]


@BOTH
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
async def test_an_unsupported_method_is_405_with_allow(
    client: httpx.AsyncClient, accept: str, method: str
) -> None:
    response = await client.request(method, "/graphql", headers=auth(Accept=accept))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    if method != "HEAD":  # a HEAD answer has no body
        assert_error(response, 405, "METHOD_NOT_ALLOWED", accept)


async def test_405_elsewhere_names_that_route_s_methods(client: httpx.AsyncClient) -> None:
    response = await client.post("/healthz")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


@BOTH
async def test_body_too_large_is_413(db: Any, accept: str) -> None:
    app = create_app(make_settings(max_body_bytes=2048), database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        declared = await post(
            http, '{"query": "' + " " * 5000 + '{ plans { totalCount } }"}', accept
        )
        body = assert_error(declared, 413, "PAYLOAD_TOO_LARGE", accept)
        assert "2048" in body["errors"][0]["message"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield b'{"query": "'
            for _ in range(10):
                yield b" " * 500
            yield b'{ plans { totalCount } }"}'

        streamed = await http.post(
            "/graphql", content=chunks(), headers=auth(**{"Content-Type": JSON, "Accept": accept})
        )
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "PAYLOAD_TOO_LARGE", accept)


@BOTH
async def test_unauthenticated_is_401(client: httpx.AsyncClient, accept: str) -> None:
    response = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Accept": accept, "X-Request-ID": "rid-401"}
    )
    body = assert_error(response, 401, "UNAUTHENTICATED", accept)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["errors"][0]["extensions"]["requestId"] == "rid-401"


@BOTH
async def test_an_unknown_route_is_404(client: httpx.AsyncClient, accept: str) -> None:
    response = await client.get("/graphq", headers={"Accept": accept})
    body = assert_error(response, 404, "NOT_FOUND", accept)
    assert "/graphql" in body["errors"][0]["message"]


async def test_graphiql_asked_for_in_production_is_404(db: Any) -> None:
    app = create_app(make_settings(env="production"), database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/graphql", headers=auth(Accept="text/html"))
    assert_error(response, 404, "NOT_FOUND")


async def test_a_client_accepting_neither_media_type_gets_406(client: httpx.AsyncClient) -> None:
    response = await post(client, '{"query": "{ plans { totalCount } }"}', "text/html")
    body = assert_error(response, 406, "NOT_ACCEPTABLE")
    assert GRAPHQL_RESPONSE in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        (JSON, JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        (f"text/html, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    ],
)
async def test_the_media_type_follows_accept(
    client: httpx.AsyncClient, accept: str | None, media: str
) -> None:
    response = await post(client, '{"query": "{ plans { totalCount } }"}', accept)
    assert response.status_code == 200
    assert media_type(response) == media
    assert {k: v for k, v in response.json().items() if k != "extensions"} == {
        "data": {"plans": {"totalCount": 0}}
    }


async def test_an_unexpected_exception_is_a_masked_500_with_the_request_id(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Authenticator, authorization: str | None) -> Any:
        raise RuntimeError("SELECT secret FROM internals -- must not leak")

    monkeypatch.setattr(Authenticator, "authenticate", broken)
    with caplog.at_level(logging.ERROR, logger="quotatree.http"):
        for accept in (JSON, GRAPHQL_RESPONSE):
            response = await post(client, '{"query": "{ plans { totalCount } }"}', accept)
            body = assert_error(response, 500, "INTERNAL", accept)
            assert response.headers["x-request-id"] in body["errors"][0]["message"]
            assert "secret" not in response.text
    records = [r for r in caplog.records if r.name == "quotatree.http" and r.exc_info]
    assert len(records) == 2
    assert "must not leak" in str(records[0].exc_info[1])  # type: ignore[index]


# --- GraphQL results ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"query": "{ plans { totalCount }"}', "GRAPHQL_PARSE_FAILED"),
        (b'{"query": "{ nope }"}', "GRAPHQL_VALIDATION_FAILED"),
        (
            b'{"query": "query($f: Int!) { plans(first: $f) { totalCount } }", '
            b'"variables": {"f": "ten"}}',
            "BAD_USER_INPUT",
        ),
        (
            b'{"query": "query($f: Int!) { plans(first: $f) { totalCount } }"}',
            "BAD_USER_INPUT",
        ),
        (
            b'{"query": "query A { plans { totalCount } }", "operationName": "B"}',
            "OPERATION_RESOLUTION_FAILURE",
        ),
    ],
    ids=[
        "parse",
        "validation",
        "variable-type",
        "variable-missing",
        "unknown-operation",
    ],
)
async def test_request_errors_have_no_data_and_the_media_type_s_status(
    client: httpx.AsyncClient, content: bytes, code: str
) -> None:
    legacy = await post(client, content, JSON)
    assert_error(legacy, 200, code, JSON)
    modern = await post(client, content, GRAPHQL_RESPONSE)
    assert_error(modern, 400, code, GRAPHQL_RESPONSE)
    assert modern.json()["errors"][0]["message"] == legacy.json()["errors"][0]["message"]


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_field_errors_keep_data_and_200(client: httpx.AsyncClient, accept: str) -> None:
    response = await post(client, b'{"query": "{ node(id: \\"nonsense\\") { id } }"}', accept)
    assert response.status_code == 200
    assert media_type(response) == accept
    body = response.json()
    assert body["data"] == {"node": None}
    [error] = body["errors"]
    assert error["path"] == ["node"]
    assert error["extensions"]["code"] == "INVALID_ID"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
