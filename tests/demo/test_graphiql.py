"""GraphiQL works offline (assets served by the service), opens with a development
token in its headers and the example operations in tabs; the examples run."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from service.api import ids
from service.app import create_app
from service.graphiql import EXAMPLES
from tests.conftest import make_settings
from tests.demo.conftest import Demo

SECRET = "one-off-" + "s" * 40


async def _get(app: Any, path: str, accept: str = "text/html") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(path, headers={"Accept": accept})


async def test_the_page_loads_its_assets_from_the_service_and_carries_a_token(db: Any) -> None:
    app = create_app(make_settings(env="development", jwt_secret=None), database=db,
                     generated_secret=SECRET)  # fmt: skip
    page = await _get(app, "/graphql")
    assert page.status_code == 200
    assert "unpkg" not in page.text and "https://" not in page.text
    scripts = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert scripts and all(s.startswith("/graphiql/") for s in scripts)
    for asset in scripts:
        served = await _get(app, asset, accept="*/*")
        assert served.status_code == 200, asset
        assert len(served.content) > 1_000
    token = re.search(r"Bearer (ey[\w.-]+)", page.text)
    assert token is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.post(
            "/graphql",
            json={"query": "{ plans { totalCount } }"},
            headers={"Authorization": f"Bearer {token.group(1)}"},
        )
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    for _, query in EXAMPLES:
        assert orjson.dumps(query).decode()[1:40] in page.text


async def test_without_the_one_off_secret_the_page_has_no_token(db: Any) -> None:
    app = create_app(make_settings(env="development"), database=db)
    page = await _get(app, "/graphql")
    assert page.status_code == 200
    assert "Bearer" not in page.text


async def test_the_example_operations_run_on_the_demo(demo: Demo) -> None:
    version = ids.encode("PlanVersion", demo.loaded.version_id)
    for title, query in EXAMPLES:
        variables = {"version": version} if "$version" in query else {}
        data = await demo.gql(query, variables)
        assert data, title
