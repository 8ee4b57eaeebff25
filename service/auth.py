"""Bearer JWT authentication: who calls, with which roles.

Keys, in order of precedence: a JWKS URL (RS256, the identity provider's keys,
fetched and cached by PyJWT's ``PyJWKClient``, so rotation needs no restart), an
RS256 public key, an HS256 shared secret. With none configured the server makes
a one-off secret at start and prints a token (see ``service.cli``), except in
production, which refuses to start without a configured key.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt

from service.settings import Settings


class Role(StrEnum):
    VIEWER = "viewer"
    PLANNER = "planner"
    ADMIN = "admin"


# A role grants itself and every role below it.
_RANK = {Role.VIEWER: 0, Role.PLANNER: 1, Role.ADMIN: 2}


class AuthenticationError(Exception):
    """The request carries no valid credentials (HTTP 401)."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    claims: dict[str, Any] = field(default_factory=dict, compare=False)
    acts_for: tuple[str, ...] | None = None
    """Owners a scoped planner acts for (person subjects or team names); None: unscoped."""

    def has(self, role: Role) -> bool:
        return any(_RANK[r] >= _RANK[role] for r in self.roles)

    @property
    def can_write(self) -> bool:
        return self.has(Role.PLANNER)


PRODUCTION_NEEDS_A_KEY = (
    "QUOTATREE_ENV=production needs a configured key to verify tokens: set "
    "QUOTATREE_JWT_SECRET (at least 32 bytes, e.g. `openssl rand -hex 32`), "
    "QUOTATREE_JWT_PUBLIC_KEY (RS256, PEM) or QUOTATREE_JWKS_URL (your identity provider)"
)


VERIFIED_TOKENS = 4096
"""Tokens whose verification is remembered (least recently used dropped first)."""
VERIFIED_FOR_SECONDS = 300.0
"""How long a verification is remembered at most (a key taken out of a JWKS stops
counting within this, as PyJWKClient's own key cache does)."""
LEEWAY_SECONDS = 30


class Authenticator:
    """Verifies bearer tokens against the configured key.

    A front end sends the same token with every request until it expires; checking
    its signature and claims again each time cost more than the rest of a cached
    answer. A verified token is remembered with its principal until its ``exp``
    (with the same leeway) or ``VERIFIED_FOR_SECONDS``, whichever comes first, for
    at most ``VERIFIED_TOKENS`` tokens. Refused tokens are not remembered.
    """

    def __init__(self, settings: Settings, generated_secret: str | None = None) -> None:
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = None
        self._key: str | None = None
        if settings.jwks_url:
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300)
            self.algorithms = ["RS256"]
        elif settings.jwt_public_key:
            self._key = settings.jwt_public_key
            self.algorithms = ["RS256"]
        else:
            if settings.production and not settings.jwt_secret:
                raise ValueError(PRODUCTION_NEEDS_A_KEY)
            secret = settings.jwt_secret or generated_secret
            if not secret:
                raise ValueError("no JWT key configured and no generated secret given")
            self._key = secret
            self.algorithms = ["HS256"]
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    @property
    def secret(self) -> str | None:
        """The HS256 secret, when that is the scheme (used to mint tokens)."""
        return self._key if self.algorithms == ["HS256"] else None

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthenticationError("missing bearer token (header Authorization: Bearer <jwt>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer <jwt>'")
        token = token.strip()
        if token.lower().startswith("bearer ") or token.startswith("export "):
            raise AuthenticationError(
                "the token is pasted with its label: send 'Authorization: Bearer <jwt>' with "
                "the token alone (after `export QUOTATREE_TOKEN=...`, use "
                "'Authorization: Bearer $QUOTATREE_TOKEN')"
            )
        known = self._verified.get(token)
        if known is not None:
            until, principal = known
            if time.time() < until:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]  # verify again: expired, or remembered long enough
        principal = self._verify(token)
        exp = principal.claims.get("exp")
        if isinstance(exp, int | float):
            self._verified[token] = (
                min(float(exp) + LEEWAY_SECONDS, time.time() + VERIFIED_FOR_SECONDS),
                principal,
            )
            if len(self._verified) > VERIFIED_TOKENS:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            key: Any = self._key
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={
                    "require": ["sub", "exp"],
                    "verify_aud": self.settings.jwt_audience is not None,
                },
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except jwt.PyJWKClientError as exc:
            raise AuthenticationError(f"cannot verify the token's key: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from None
        return principal_from_claims(
            claims, self.settings.jwt_roles_claim, self.settings.owners_claim
        )


def principal_from_claims(
    claims: dict[str, Any], roles_claim: str = "roles", owners_claim: str = "owners"
) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthenticationError("the token has no subject (sub)")
    raw = claims.get(roles_claim, [])
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    if not isinstance(raw, list):
        raise AuthenticationError(f"the token's {roles_claim!r} claim is not a list of roles")
    roles = {Role(r) for r in raw if isinstance(r, str) and r in Role.__members__.values()}
    if not roles:
        raise AuthenticationError(
            f"the token carries no known role in {roles_claim!r} "
            f"(expected one of {', '.join(r.value for r in Role)})"
        )
    owners = claims.get(owners_claim)
    if owners is not None and (
        not isinstance(owners, list) or not all(isinstance(o, str) and o for o in owners)
    ):
        raise AuthenticationError(f"the token's {owners_claim!r} claim must be a list of names")
    return Principal(
        subject=subject,
        roles=frozenset(roles),
        claims=claims,
        acts_for=tuple(owners) if owners is not None else None,
    )


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def mint_token(
    secret: str,
    *,
    subject: str,
    role: Role,
    ttl_hours: float,
    issuer: str | None = None,
    audience: str | None = None,
    roles_claim: str = "roles",
    owners: list[str] | None = None,
    owners_claim: str = "owners",
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        roles_claim: [role.value],
        "iat": now,
        "exp": now + int(ttl_hours * 3600),
    }
    if owners is not None:
        claims[owners_claim] = owners
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
