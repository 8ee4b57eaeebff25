"""Apollo Client's subscription link against two real servers.

``tests/clients/apollo`` holds a small Node program (Apollo Client 4's
``GraphQLWsLink`` over ``graphql-ws``, pinned by its package-lock.json). Its
packages are installed with ``npm ci`` into a cache folder outside the repository
(``QUOTATREE_NODE_CACHE``, else the user's cache folder), once per lock file.
The test is skipped, saying so, only when node or npm is not installed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from tests.api.subscriptions import Served, scratch, servers, small_plan
from tests.conftest import REPO_ROOT, token

__all__ = ["scratch", "servers"]  # fixtures

CLIENT = REPO_ROOT / "tests" / "clients" / "apollo"
FILES = ("package.json", "package-lock.json", "subscribe.mjs")
SET = """mutation($input: NodeSetTargetInput!) { nodeSetTarget(input: $input) {
    version { revision } userErrors { code message } } }"""


def apollo_client() -> Path:
    """The program's folder with its node_modules, installed when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Apollo Client test (not installed)")
    digest = hashlib.sha256(b"".join((CLIENT / f).read_bytes() for f in FILES)).hexdigest()
    base = Path(os.environ.get("QUOTATREE_NODE_CACHE") or platformdirs.user_cache_dir("quotatree"))
    folder = base / f"apollo-{digest[:16]}"
    if not (folder / "node_modules").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(CLIENT / name, folder / name)
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return folder


async def run_client(
    folder: Path, served: Served, bearer: str, version_id: str, wanted: int
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "node",
        "subscribe.mjs",
        served.ws_url,
        bearer,
        version_id,
        str(wanted),
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    raw = await asyncio.wait_for(process.stdout.readline(), 30)
    if not raw:
        assert process.stderr is not None
        raise AssertionError(f"the client ended: {(await process.stderr.read()).decode()}")
    result: dict[str, Any] = json.loads(raw)
    return result


async def test_apollo_client_hears_a_change_made_through_the_other_server(
    servers: tuple[Served, Served],
) -> None:
    folder = await asyncio.to_thread(apollo_client)
    a, b = servers
    plan = await small_plan(a.http)
    process = await run_client(folder, b, token(), plan["version"], 2)
    try:
        first = await line(process)
        assert first["error"] is None, first
        assert first["data"]["versionChanged"]["initial"] is True
        assert first["data"]["versionChanged"]["revision"] == plan["revision"]

        data = await a.http(
            SET,
            {
                "input": {
                    "nodeId": plan["children"][0],
                    "revision": plan["revision"],
                    "target": "70.00",
                }
            },
        )
        revision = data["nodeSetTarget"]["version"]["revision"]
        second = await line(process)
        event = second["data"]["versionChanged"]
        assert event["revision"] == revision and event["initial"] is False, second
        assert plan["children"][0] in event["nodeIds"]
        assert event["version"] == {
            "__typename": "PlanVersion",  # Apollo adds it, to normalise its cache
            "id": plan["version"],
            "revision": revision,
        }
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_apollo_client_is_told_why_a_bad_token_is_refused(
    servers: tuple[Served, Served],
) -> None:
    folder = await asyncio.to_thread(apollo_client)
    _, b = servers
    process = await run_client(folder, b, "not-a-jwt", "UGxhblZlcnNpb246MQ==", 1)
    try:
        seen = [await line(process), await line(process)]
        closed = next(s["closed"] for s in seen if "closed" in s)
        assert closed["code"] == 4403 and "invalid token" in closed["reason"], seen
        assert any(s.get("error") for s in seen), seen
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
