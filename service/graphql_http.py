"""GraphQL over HTTP: media types, error answers and the request body.

Every answer of the HTTP layer is a GraphQL response, errors included: a JSON
object whose ``errors[]`` each carry ``extensions.code`` and
``extensions.requestId`` (the request's ``X-Request-ID``). It follows the
GraphQL-over-HTTP specification (https://graphql.github.io/graphql-over-http/):

- A client that accepts ``application/graphql-response+json`` gets that media
  type and status codes that say what happened: 400 when the request could not
  be run (bad JSON, not a GraphQL request, a document that does not parse or
  validate, variables that do not fit), 200 once execution began (field errors
  included), and the HTTP codes below.
- Any other client (``application/json``, ``*/*`` or no ``Accept``) gets
  ``application/json`` and 200 for every GraphQL result, as the specification
  asks for that media type, since a 4xx or 5xx could come from any proxy.
- Errors before GraphQL (the body is not JSON or not a GraphQL request, 401,
  404, 405 with ``Allow``, 406, 413, 415, 500) have their HTTP status with
  either media type.

The request body is parsed strictly: UTF-8 only, no duplicate keys, no NaN or
Infinity, numbers that fit (integers in 64 bits, finite floats), no lone UTF-16
surrogate in a string (it has no UTF-8 form) and at most ``MAX_JSON_DEPTH``
levels of nesting. Any such problem is a 400 that names it, never a 500.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Send
from strawberry.http.parse_content_type import parse_content_type

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_CONTENT_TYPES = {
    GRAPHQL_RESPONSE: b"application/graphql-response+json; charset=utf-8",
    JSON: b"application/json",
}

MAX_JSON_DEPTH = 64
"""Nesting levels a request body may have; the deepest input of the schema needs 6."""

REQUEST_ERROR_STATUS = {GRAPHQL_RESPONSE: 400, JSON: 200}
"""Status of a GraphQL result with a request error (raised before execution began: the
document does not parse or validate, the variables do not fit, the operation is not
found), by response media type. Results of an execution are 200 in both."""

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE",
    500: "INTERNAL",
    503: "SERVICE_UNAVAILABLE",
}


def code_for_status(status: int) -> str:
    return _STATUS_CODES.get(status, "INTERNAL" if status >= 500 else "BAD_REQUEST")


# --- content negotiation --------------------------------------------------------------


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with; None when the client accepts neither of ours.

    The highest ``q`` wins, a media range naming the type exactly counting before a
    wildcard one (RFC 9110 §12.5.1). On a tie ``application/graphql-response+json``
    wins only when the client named it: a client that accepts anything (``*/*``) or
    sends no ``Accept`` is treated as a legacy client and gets ``application/json``.
    """
    if accept is None or not accept.strip():
        return JSON
    best: dict[str, tuple[int, float]] = {}  # media type -> (specificity, q) of its range
    for part in accept.split(","):
        media_range, *params = (p.strip() for p in part.split(";"))
        media_range = media_range.lower()
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
        for media in (GRAPHQL_RESPONSE, JSON):
            specificity = _specificity(media_range, media)
            if specificity > best.get(media, (-1, 0.0))[0]:
                best[media] = (specificity, q)
    graphql_q = best.get(GRAPHQL_RESPONSE, (-1, 0.0))[1]
    json_q = best.get(JSON, (-1, 0.0))[1]
    if graphql_q <= 0 and json_q <= 0:
        return None
    if graphql_q > json_q or (graphql_q == json_q and best[GRAPHQL_RESPONSE][0] == 2):
        return GRAPHQL_RESPONSE
    return JSON


def _specificity(media_range: str, media: str) -> int:
    if media_range == media:
        return 2
    if media_range == "application/*":
        return 1
    if media_range == "*/*":
        return 0
    return -1


def content_type(media: str) -> bytes:
    return _CONTENT_TYPES[media]


# --- error answers ---------------------------------------------------------------------


class HTTPError(Exception):
    """An answer that ends a request before (or instead of) GraphQL execution."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str, request_id: str) -> bytes:
    return orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}]}
    )


def render_error(
    error: HTTPError, accept: str | None, request_id: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of an error answer, in the media type the client accepts."""
    body = error_body(error.code, error.message, request_id)
    headers = [
        (b"content-type", content_type(negotiate(accept) or JSON)),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()
    ]
    return error.status, headers, body


def error_response(error: HTTPError, accept: str | None, request_id: str) -> Response:
    status, headers, body = render_error(error, accept, request_id)
    response = Response(body, status_code=status)
    response.raw_headers = headers
    return response


async def send_error(send: Send, error: HTTPError, accept: str | None, request_id: str) -> None:
    """Send an error answer from ASGI middleware."""
    status, headers, body = render_error(error, accept, request_id)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def header(headers: list[tuple[bytes, bytes]] | Any, name: bytes) -> str | None:
    """A request header from an ASGI scope's header list (the last one wins)."""
    found = None
    for key, value in headers or ():
        if key.lower() == name:
            found = value
    return found.decode("latin-1") if found is not None else None


# --- the request body ------------------------------------------------------------------


class InvalidJSON(ValueError):
    pass


_INT_DIGITS = 19
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
# A surrogate can only reach a parsed string through a \u escape (the text was decoded
# strictly from UTF-8), so the strings are searched only when the body has one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidJSON(f"duplicate key {_quote(key)} in an object")
            seen.add(key)
    return result


def _int(text: str) -> int:
    if len(text.lstrip("-")) <= _INT_DIGITS:
        value = int(text)
        if _INT_MIN <= value <= _INT_MAX:
            return value
    raise InvalidJSON(f"the integer {clip(text)} does not fit in 64 bits")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJSON(f"the number {clip(text)} is out of range")
    return value


def _constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a JSON value")


def clip(text: str, length: int = 24) -> str:
    return text if len(text) <= length else text[:length] + "…"


def _quote(text: str) -> str:
    return orjson.dumps(clip(text, 40)).decode()


def parse_json(data: bytes | str) -> object:
    """Parse a request's JSON strictly; InvalidJSON names the problem."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJSON(f"it is not valid UTF-8 (byte {exc.start})") from None
    else:
        text = data
    if not text.strip():
        raise InvalidJSON("it is empty")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise InvalidJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InvalidJSON(f"it is nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_nesting_and_strings(value, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _check_nesting_and_strings(value: object, *, strings: bool) -> None:
    """At most MAX_JSON_DEPTH levels; with ``strings``, no surrogate in any string."""
    if strings and isinstance(value, str):
        _check_string(value)
    stack: list[tuple[object, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidJSON(f"it is nested deeper than {MAX_JSON_DEPTH} levels")
        children: Any = node
        if isinstance(node, dict):
            if strings:
                for key in node:
                    _check_string(key)
            children = node.values()
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif strings and isinstance(child, str):
                _check_string(child)


def _check_string(text: str) -> None:
    if _SURROGATE.search(text):
        raise InvalidJSON("a string holds a lone UTF-16 surrogate (\\ud800 to \\udfff)")


def request_parameters(
    data: object, where: str
) -> tuple[str, str | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(query, operationName, variables, extensions) of a GraphQL-over-HTTP request."""
    if isinstance(data, list):
        raise invalid_request("batched requests are not supported; send one operation per request")
    if not isinstance(data, dict):
        raise invalid_request(f"the {where} must be a JSON object with a query, not {_kind(data)}")
    query = data.get("query")
    if query is None or query == "":
        raise invalid_request(f'the {where} has no "query": send the GraphQL document as a string')
    if not isinstance(query, str):
        raise invalid_request(f'"query" must be a string, not {_kind(query)}')
    operation = data.get("operationName")
    if operation == "":
        operation = None
    if not isinstance(operation, str | None):
        raise invalid_request(f'"operationName" must be a string or null, not {_kind(operation)}')
    variables = data.get("variables")
    if not isinstance(variables, dict | None):
        raise invalid_request(f'"variables" must be an object or null, not {_kind(variables)}')
    extensions = data.get("extensions")
    if not isinstance(extensions, dict | None):
        raise invalid_request(f'"extensions" must be an object or null, not {_kind(extensions)}')
    return query, operation, variables, extensions


def invalid_request(message: str) -> HTTPError:
    return HTTPError(400, "INVALID_REQUEST", message)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


# --- what the router answered ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GraphQLOutcome:
    """What the router answered, kept in the request's ASGI scope for the middleware."""

    request_error: bool
    """Raised before execution began: the response has no ``data``."""
    has_errors: bool
    """The response has top-level ``errors``."""


def graphql_outcome(scope: Mapping[str, Any]) -> GraphQLOutcome | None:
    state = scope.get("state")
    outcome = state.get("graphql_outcome") if isinstance(state, dict) else None
    return outcome if isinstance(outcome, GraphQLOutcome) else None


def check_content_type(value: str | None) -> None:
    """A POST body must be application/json in UTF-8 (415 otherwise)."""
    media, params = parse_content_type(value or "")
    charset = params.get("charset", "utf-8").lower()
    if value is None or media.lower() != JSON or charset not in ("utf-8", "utf8"):
        raise HTTPError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Send the request as Content-Type: {JSON} (UTF-8), not "
            f"{clip(value, 80) if value else 'without a Content-Type'}.",
            {"Accept-Post": JSON},
        )
