"""Every query of the README's demo walkthrough runs on the demo, so the
documentation cannot rot: the ```graphql blocks between the markers."""

from __future__ import annotations

import re
from pathlib import Path

from service.auth import Role
from tests.conftest import token
from tests.demo.conftest import Demo

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- demo-walkthrough -->", "<!-- /demo-walkthrough -->"


def walkthrough_queries() -> list[str]:
    text = README.read_text()
    section = text[text.index(START) : text.index(END)]
    return re.findall(r"```graphql\n(.*?)```", section, flags=re.S)


def test_the_walkthrough_has_its_queries() -> None:
    queries = walkthrough_queries()
    assert len(queries) >= 5
    assert any("me {" in q for q in queries)
    assert any("versionDiff" in q for q in queries)
    assert any("alerts" in q for q in queries)
    assert any("diagnostics" in q and "readiness" in q for q in queries)


async def test_every_walkthrough_query_answers_on_the_demo(demo: Demo) -> None:
    for query in walkthrough_queries():
        subject = re.search(r"subject is (\S+@\S+?)[,)]", query)
        sent = (
            {"Authorization": f"Bearer {token(Role.VIEWER, subject=subject.group(1))}"}
            if subject
            else {}
        )
        response = await demo.gql.post(
            query, role=Role.VIEWER if not subject else None, headers=sent
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, (query, body)
        data = body["data"]
        assert all(value is not None for value in data.values()), (query, data)
