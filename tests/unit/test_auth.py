"""Token verification: HS256, RS256 by public key and by JWKS URL, issuer and audience."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from service.auth import AuthenticationError, Authenticator, Role
from service.settings import Settings


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "roles": ["planner"], "exp": int(time.time()) + 600, **extra}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_hs256_with_issuer_and_audience() -> None:
    auth = Authenticator(Settings(jwt_secret="s" * 40, jwt_issuer="idp", jwt_audience="quotatree"))
    good = jwt.encode(claims(iss="idp", aud="quotatree"), "s" * 40, algorithm="HS256")
    principal = auth.authenticate(f"Bearer {good}")
    assert principal.subject == "alice" and principal.has(Role.PLANNER)
    assert not principal.has(Role.ADMIN)
    for bad in (claims(iss="other", aud="quotatree"), claims(iss="idp", aud="crm"), claims()):
        token = jwt.encode(bad, "s" * 40, algorithm="HS256")
        with pytest.raises(AuthenticationError):
            auth.authenticate(f"Bearer {token}")


def test_rs256_with_a_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(Settings(jwt_public_key=public_pem(rsa_key)))
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert auth.authenticate(f"Bearer {token}").subject == "alice"
    # an HS256 token signed with the public key as secret must not pass (algorithm confusion)
    forged = jwt.encode(claims(), "not-the-key" * 4, algorithm="HS256")
    with pytest.raises(AuthenticationError):
        auth.authenticate(f"Bearer {forged}")


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update({"kid": "key-1", "use": "sig", "alg": "RS256"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()


def test_rs256_through_a_jwks_url(rsa_key: rsa.RSAPrivateKey, jwks_server: str) -> None:
    auth = Authenticator(Settings(jwks_url=jwks_server))
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "key-1"})
    assert auth.authenticate(f"Bearer {token}").subject == "alice"
    unknown_kid = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rotated-away"})
    with pytest.raises(AuthenticationError):
        auth.authenticate(f"Bearer {unknown_kid}")


def test_owners_claim_must_be_a_list_of_names() -> None:
    auth = Authenticator(Settings(jwt_secret="s" * 40))
    scoped = jwt.encode(claims(owners=["li", "West team"]), "s" * 40, algorithm="HS256")
    assert auth.authenticate(f"Bearer {scoped}").acts_for == ("li", "West team")
    bad = jwt.encode(claims(owners="li"), "s" * 40, algorithm="HS256")
    with pytest.raises(AuthenticationError):
        auth.authenticate(f"Bearer {bad}")


def test_production_verifies_only_with_a_configured_key() -> None:
    """No one-off secret in production: the server must be given a key."""
    with pytest.raises(ValueError, match="QUOTATREE_JWT_SECRET"):
        Authenticator(Settings(env="production"), generated_secret="g" * 43)
    assert Authenticator(Settings(env="production", jwt_secret="s" * 40)).secret == "s" * 40
    # Outside production the one-off secret is how a first start works.
    assert Authenticator(Settings(env="development"), generated_secret="g" * 43).secret


def test_a_token_pasted_with_its_label_is_refused_saying_why() -> None:
    auth = Authenticator(Settings(jwt_secret="s" * 40))
    good = jwt.encode(claims(), "s" * 40, algorithm="HS256")
    for pasted in (f"Bearer Bearer {good}", f"Bearer export QUOTATREE_TOKEN={good}"):
        with pytest.raises(AuthenticationError, match="pasted with its label"):
            auth.authenticate(pasted)
    assert auth.authenticate(f"Bearer {good}").subject == "alice"


def count_verifications(auth: Authenticator, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens ``auth`` verifies from now on (signature and claims checked)."""
    verified: list[str] = []
    verify = auth._verify

    def counting(raw: str) -> Any:
        verified.append(raw)
        return verify(raw)

    monkeypatch.setattr(auth, "_verify", counting)
    return verified


def test_a_verified_token_is_remembered_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same token again is not verified again, yet still expires on time."""
    import service.auth as auth_module

    auth = Authenticator(Settings(jwt_secret="s" * 40))
    now = time.time()
    token = jwt.encode(claims(exp=int(now) + 60), "s" * 40, algorithm="HS256")
    verified = count_verifications(auth, monkeypatch)
    first = auth.authenticate(f"Bearer {token}")
    assert auth.authenticate(f"Bearer {token}") is first
    assert verified == [token]
    other = jwt.encode(claims(sub="bob", exp=int(now) + 60), "s" * 40, algorithm="HS256")
    assert auth.authenticate(f"Bearer {other}").subject == "bob"
    assert verified == [token, other]
    # Past exp (and the 30 s leeway) the token is verified again, not taken from memory
    # (PyJWT's clock, which this does not move, then decides).
    monkeypatch.setattr(auth_module.time, "time", lambda: now + 60 + 31)
    auth.authenticate(f"Bearer {token}")
    assert verified == [token, other, token]
    expired = jwt.encode(claims(exp=int(now) - 31), "s" * 40, algorithm="HS256")
    with pytest.raises(AuthenticationError, match="expired"):
        auth.authenticate(f"Bearer {expired}")
    # A refused token is not remembered: a forged one fails every time.
    forged = jwt.encode(claims(), "x" * 40, algorithm="HS256")
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            auth.authenticate(f"Bearer {forged}")


def test_a_verification_is_remembered_for_five_minutes_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.auth as auth_module

    auth = Authenticator(Settings(jwt_secret="s" * 40))
    now = time.time()
    token = jwt.encode(claims(exp=int(now) + 3600), "s" * 40, algorithm="HS256")
    auth.authenticate(f"Bearer {token}")
    verified = count_verifications(auth, monkeypatch)
    auth.authenticate(f"Bearer {token}")
    assert verified == []
    monkeypatch.setattr(auth_module.time, "time", lambda: now + 301)
    auth.authenticate(f"Bearer {token}")
    assert verified == [token]
