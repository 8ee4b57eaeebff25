"""Content negotiation and the strict request-body parser of service.graphql_http."""

from __future__ import annotations

import pytest

from service.graphql_http import (
    GRAPHQL_RESPONSE,
    JSON,
    MAX_JSON_DEPTH,
    InvalidJSON,
    negotiate,
    parse_json,
)


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("APPLICATION/JSON; charset=utf-8", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),  # named: it wins the tie
        (f"{JSON};q=1, {GRAPHQL_RESPONSE};q=0.8", JSON),
        (f"*/*, {GRAPHQL_RESPONSE};q=0.1", JSON),  # the wildcard gives json q=1
        (f"{GRAPHQL_RESPONSE};q=0, */*", JSON),
        ("text/html, application/xhtml+xml, */*;q=0.8", JSON),
        ("text/html", None),
        ("text/event-stream", None),
        (f"{GRAPHQL_RESPONSE};q=0, {JSON};q=0", None),
        (f"{GRAPHQL_RESPONSE};q=nonsense", None),
    ],
)
def test_negotiate(accept: str | None, media: str | None) -> None:
    assert negotiate(accept) == media


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
        (b'"\\ud83d\\ude00"', "\U0001f600"),
        ("\u00e9t\u00e9".encode(), None),  # not JSON
        (b"9223372036854775807", 2**63 - 1),
        (b"-9223372036854775808", -(2**63)),
        (b"1.7976931348623157e308", 1.7976931348623157e308),
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, "deep"),
    ],
)
def test_parse_json_accepts_good_json(text: bytes, value: object) -> None:
    if value is None:
        with pytest.raises(InvalidJSON):
            parse_json(text)
        return
    parsed = parse_json(text)
    if value == "deep":
        depth = 0
        while isinstance(parsed, list):
            parsed = parsed[0] if parsed else None
            depth += 1
        assert depth == MAX_JSON_DEPTH
    else:
        assert parsed == value


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested deeper"),
        (b'{"a": {"b": 1, "b": 2}}', 'duplicate key "b"'),
        (b"9223372036854775808", "64 bits"),
        (b"1" + b"0" * 4400, "64 bits"),
        (b"1e309", "out of range"),
        (b"NaN", "NaN"),
        (b"Infinity", "Infinity"),
        (b'"\\udfff"', "surrogate"),
        (b'"a\xffb"', r"UTF-8 \(byte 2\)"),
        (b"", "empty"),
    ],
)
def test_parse_json_names_the_problem(text: bytes, named: str) -> None:
    with pytest.raises(InvalidJSON, match=named):
        parse_json(text)
