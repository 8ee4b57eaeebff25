"""Configuration read from the environment (prefix ``QUOTATREE_``).

Every setting has a default that works on a laptop: no database URL means an
embedded PostgreSQL in the data folder, no JWT key means a one-off secret made
at start (its token is printed, as Jupyter does).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

URL_SHAPE = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_SECRET_BYTES = 32
"""HS256 keys shorter than the hash (256 bits) are refused (RFC 7518, section 3.2)."""
DEFAULT_METRICS_PORT = 9464
"""Prometheus' registered default port for exporters of this kind (OpenTelemetry's too)."""
LISTENER_CONNECTIONS = 1
"""Connections each process holds outside its pool: the one that LISTENs for changes
(subscriptions, ``service.db.notifications``)."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("quotatree", appauthor=False))


class Settings(BaseSettings):
    """All knobs of the service. Names below are the variables without prefix."""

    model_config = SettingsConfigDict(env_prefix="QUOTATREE_", extra="ignore")

    env: Environment = Field(
        Environment.DEVELOPMENT,
        description="development | test | production. Production turns off GraphiQL, "
        "introspection and field suggestions.",
    )
    database_url: str | None = Field(
        None,
        description="postgresql+asyncpg://user:pass@host:5432/db. Unset: embedded PostgreSQL "
        "in DATA_DIR.",
    )
    database_host: str | None = Field(
        None,
        description="The database from parts (instead of DATABASE_URL): host name; with it "
        "DATABASE_NAME and DATABASE_USER are needed, DATABASE_PASSWORD usually from a Secret.",
    )
    database_port: int = Field(5432, ge=1, le=65535)
    database_name: str | None = None
    database_user: str | None = None
    database_password: str | None = Field(None, description="Never logged or echoed.")
    database_ssl: str | None = Field(
        None, description="asyncpg's ssl mode: disable, prefer, require, verify-ca, verify-full."
    )
    database_connection_budget: int | None = Field(
        None,
        ge=1,
        description="Connections all the service's pods may hold together. With it the pool "
        "of each pod is derived: budget // DATABASE_MAX_PODS connections, one of them "
        "listening for changes (subscriptions), of the rest half kept (POOL_SIZE), half "
        "overflow (MAX_OVERFLOW). A budget is per server: a read replica's pool comes from "
        "READ_DATABASE_CONNECTION_BUDGET, by default this one.",
    )
    database_max_pods: int = Field(
        9,
        ge=1,
        description="Most pods that run at once: the HPA's maxReplicas plus the rollout's "
        "maxSurge (8 + 1 in deploy/kubernetes).",
    )
    # Read replica (service/db/replicas.py, README "Read replicas") ------------
    read_database_url: str | None = Field(
        None,
        description="A read-only replica of the database (PostgreSQL streaming replication), "
        "same form as DATABASE_URL: queries read from it, mutations write to the primary, "
        "and a client's read never sees older data than its last write (the fence). "
        "Unset: everything on the primary.",
    )
    read_database_host: str | None = Field(
        None,
        description="The replica from parts (instead of READ_DATABASE_URL): the primary's "
        "database, user, password and ssl mode at this host (and READ_DATABASE_PORT).",
    )
    read_database_port: int | None = Field(
        None, ge=1, le=65535, description="Port of READ_DATABASE_HOST; unset: the primary's."
    )
    read_database_connection_budget: int | None = Field(
        None,
        ge=1,
        description="Connections all pods may hold together on the replica; unset: the "
        "primary's budget (a hot standby's max_connections must be at least its "
        "primary's). Each pod's replica pool is derived from it as the primary's is.",
    )
    read_pool_size: int | None = Field(
        None, ge=1, description="Connections the replica pool keeps; unset: POOL_SIZE."
    )
    read_max_overflow: int | None = Field(
        None, ge=0, description="Replica connections opened beyond it; unset: MAX_OVERFLOW."
    )
    read_database_connect_timeout: float = Field(
        3.0,
        gt=0,
        description="Seconds to wait for a replica connection before reading from the "
        "primary instead (then the replica is retried after a backoff of 1 s doubling "
        "to 30 s).",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder of the embedded PostgreSQL (only used without DATABASE_URL).",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "INFO"
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-For / X-Forwarded-Proto are trusted for the "
        "client address of access lines (comma-separated IPs or CIDRs, `*` for any): the "
        "ingress controller's addresses; uvicorn's forwarded_allow_ips.",
    )
    build_commit: str | None = Field(
        None, description="Git commit of the build (set by the image), in quotatree_build_info."
    )

    # Authentication ------------------------------------------------------
    jwt_secret: str | None = Field(
        None, description="HS256 shared secret, at least 32 bytes (`openssl rand -hex 32`)."
    )
    jwt_public_key: str | None = Field(None, description="RS256 public key (PEM).")
    jwks_url: str | None = Field(None, description="JWKS URL of an identity provider (RS256).")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, when set.")
    jwt_audience: str | None = Field(None, description="Required `aud` claim, when set.")
    jwt_roles_claim: str = Field("roles", description="Claim holding the roles (list or string).")
    owners_claim: str = Field(
        "owners",
        description="Claim listing the owners a planner acts for (person subjects or team "
        "names); such a planner may change only the subtrees they (or their teams) hold.",
    )
    token_ttl_hours: float = Field(
        24.0, gt=0, description="Lifetime of tokens made by `quotatree token` and at start."
    )

    # Limits ----------------------------------------------------------------
    max_query_depth: int = Field(15, ge=1)
    max_aliases: int = Field(50, ge=1)
    max_tokens: int = Field(10_000, ge=100)
    max_body_bytes: int = Field(1_048_576, ge=1024)

    # The explorer page (/explorer, service/explorer.py) ----------------------
    explorer_enabled: bool | None = Field(
        None,
        description="Serve the read-only explorer page at /explorer. Unset: on outside "
        "production, off in production (where it asks for a token).",
    )

    # Query cost and time budget (service/api/cost.py, deploy/README.md) ----------
    max_query_cost: int = Field(
        30_000,
        ge=1,
        description="Most objects one operation may ask for (lists at their page size or "
        "declared size); over it the operation is refused with QUERY_TOO_COSTLY.",
    )
    response_cache_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="Memory for cached query answers (LRU; keyed by document, variables, "
        "caller and data generation, so never stale); 0 turns the cache off.",
    )
    request_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="Longest an operation may run; then it is cancelled (its SQL too, a "
        "mutation rolled back) and the client gets TIMEOUT.",
    )

    # Database pool -----------------------------------------------------------
    pool_size: int = Field(10, ge=1)
    max_overflow: int = Field(10, ge=0)

    # Operations (quotatree serve) -------------------------------------------
    shutdown_timeout: int = Field(
        20,
        ge=0,
        description="Seconds `serve` lets the requests in flight finish after SIGTERM or "
        "SIGINT before it cancels them; keep it below Kubernetes' "
        "terminationGracePeriodSeconds minus the preStop pause.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port of the Prometheus metrics listener (`GET /metrics`), beside the "
        "API's. Production: 9464 unless set, and never on the API port. Elsewhere: unset "
        "serves /metrics on the API port.",
    )

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: str | None) -> str | None:
        if not value:
            return None
        if len(value.encode()) < MIN_SECRET_BYTES:
            # Never echo the value: it is a credential.
            raise ValueError(
                f"an HS256 secret must be at least {MIN_SECRET_BYTES} bytes (RFC 7518); make "
                "one with `openssl rand -hex 32`"
            )
        return value

    @property
    def explorer(self) -> bool:
        """Whether /explorer is served: EXPLORER_ENABLED, else everywhere but production."""
        if self.explorer_enabled is None:
            return not self.production
        return self.explorer_enabled

    @model_validator(mode="after")
    def _production_metrics_port(self) -> Settings:
        if self.production and self.metrics_port is None:
            self.metrics_port = DEFAULT_METRICS_PORT
        return self

    @model_validator(mode="after")
    def _database_from_parts(self) -> Settings:
        if self.database_host is None:
            return self
        if self.database_url is not None:
            raise ValueError(
                "both QUOTATREE_DATABASE_URL and QUOTATREE_DATABASE_HOST are set; configure "
                "the database by URL or by parts (HOST, PORT, NAME, USER, PASSWORD), not both"
            )
        missing = [
            f"QUOTATREE_DATABASE_{part.upper()}"
            for part in ("name", "user")
            if not getattr(self, f"database_{part}")
        ]
        if missing:
            raise ValueError(
                f"QUOTATREE_DATABASE_HOST is set but {' and '.join(missing)} not; set them too"
            )
        from sqlalchemy.engine import URL

        url = URL.create(
            "postgresql+asyncpg",
            username=self.database_user,
            password=self.database_password,
            host=self.database_host,
            port=self.database_port,
            database=self.database_name,
            query={"ssl": self.database_ssl} if self.database_ssl else {},
        )
        self.database_url = url.render_as_string(hide_password=False)
        return self

    @model_validator(mode="after")
    def _pool_from_budget(self) -> Settings:
        budget = self.database_connection_budget
        if budget is None:
            return self
        explicit = {"pool_size", "max_overflow"} & self.model_fields_set
        if explicit:
            raise ValueError(
                "QUOTATREE_DATABASE_CONNECTION_BUDGET derives the pool; unset "
                + " and ".join(f"QUOTATREE_{name.upper()}" for name in sorted(explicit))
            )
        per_pod = budget // self.database_max_pods
        if per_pod < 2 + LISTENER_CONNECTIONS:
            raise ValueError(
                f"a budget of {budget} connections over {self.database_max_pods} pods leaves "
                f"{per_pod} per pod; each pod needs at least {2 + LISTENER_CONNECTIONS} (a pool "
                "of 2 and its change listener; raise the budget or lower "
                "QUOTATREE_DATABASE_MAX_PODS with the HPA's maxReplicas)"
            )
        per_pod -= LISTENER_CONNECTIONS  # the pool gets the rest
        self.pool_size = (per_pod + 1) // 2
        self.max_overflow = per_pod - self.pool_size
        return self

    @model_validator(mode="after")
    def _read_database(self) -> Settings:
        """The replica's URL (from parts: the primary's with another host) and its pool,
        derived from its budget like the primary's."""
        if self.read_database_host is not None:
            if self.read_database_url is not None:
                raise ValueError(
                    "both QUOTATREE_READ_DATABASE_URL and QUOTATREE_READ_DATABASE_HOST are "
                    "set; configure the replica by URL or by host, not both"
                )
            if self.database_url is None:
                raise ValueError(
                    "QUOTATREE_READ_DATABASE_HOST is set but the primary is not (set "
                    "QUOTATREE_DATABASE_URL or QUOTATREE_DATABASE_HOST): the replica takes "
                    "the primary's database, user and password"
                )
            from sqlalchemy.engine import make_url

            primary = make_url(self.database_url)
            self.read_database_url = primary.set(
                host=self.read_database_host,
                port=self.read_database_port or primary.port or 5432,
            ).render_as_string(hide_password=False)
        elif self.read_database_port is not None:
            raise ValueError(
                "QUOTATREE_READ_DATABASE_PORT is set without QUOTATREE_READ_DATABASE_HOST"
            )
        if self.read_database_url is not None and self.database_url is None:
            raise ValueError(
                "QUOTATREE_READ_DATABASE_URL is set but the primary is not (set "
                "QUOTATREE_DATABASE_URL or QUOTATREE_DATABASE_HOST): the embedded database "
                "has no replica"
            )
        budget = self.read_database_connection_budget or self.database_connection_budget
        explicit = {"read_pool_size", "read_max_overflow"} & self.model_fields_set
        if budget is not None and explicit:
            raise ValueError(
                "a connection budget derives the replica pool; unset "
                + " and ".join(f"QUOTATREE_{name.upper()}" for name in sorted(explicit))
            )
        if budget is not None:
            per_pod = budget // self.database_max_pods
            if per_pod < 2:
                raise ValueError(
                    f"a replica budget of {budget} connections over "
                    f"{self.database_max_pods} pods leaves {per_pod} per pod; each pod "
                    "needs at least 2"
                )
            self.read_pool_size = (per_pod + 1) // 2
            self.read_max_overflow = per_pod - self.read_pool_size
        else:
            if self.read_pool_size is None:
                self.read_pool_size = self.pool_size
            if self.read_max_overflow is None:
                self.read_max_overflow = self.max_overflow
        return self

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        """``postgres[ql]://`` becomes ``postgresql+asyncpg://``, libpq's ``sslmode``
        asyncpg's ``ssl``; any other scheme is refused here rather than by a driver
        import deep in SQLAlchemy. Messages never repeat the URL (it may hold a
        password)."""
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError(f"is not a URL; expected {URL_SHAPE}")
        if scheme in ("postgres", "postgresql"):
            value = "postgresql+asyncpg://" + rest
        elif scheme != "postgresql+asyncpg":
            shown = repr(scheme) if re.fullmatch(r"[A-Za-z0-9+._-]{1,40}", scheme) else "its"
            raise ValueError(
                f"{shown} scheme is not supported: quotatree runs on PostgreSQL through "
                f"asyncpg; use {URL_SHAPE} (or postgresql+asyncpg://...)"
            )
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(
                f"is not a valid URL; expected {URL_SHAPE}, with special characters of the "
                "password percent-encoded"
            ) from None
        if "sslmode" in url.query:
            if "ssl" in url.query:
                raise ValueError("sets both sslmode and ssl; keep one (ssl=require, ...)")
            query = dict(url.query)
            query["ssl"] = query.pop("sslmode")
            value = url.set(query=query).render_as_string(hide_password=False)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"is not a log level; use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("jwt_public_key")
    @classmethod
    def _rsa_public_key(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            key = load_pem_public_key(value.strip().encode())
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, RSAPublicKey):
            raise ValueError(
                "is not an RSA public key in PEM form (-----BEGIN PUBLIC KEY----- ...); "
                "give the public half of the key your tokens are signed with"
            )
        return value

    @field_validator("jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        if not re.match(r"https?://[^/\s]+", value.strip()):
            raise ValueError(
                "is not an http(s) URL; give your identity provider's JWKS address, e.g. "
                "https://idp.example.com/.well-known/jwks.json"
            )
        return value.strip()

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def jwt_configured(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key or self.jwks_url)


@lru_cache
def get_settings() -> Settings:
    return Settings()
