"""How the example clients check GHL webhook signatures now that GHL sends only the Ed25519
`x-ghl-signature` (it retired the RSA `x-wh-signature` in 2026; the sandbox adds it with
`--legacy-wh-signature`). In process, with the sandbox's own signer (mock_server/webhooks/signing.py):
the reference client verifies `x-ghl-signature`, falls back to RSA only when that header is absent and an
RSA key is configured, and refuses a delivery with neither; the two broken RSA variants do not."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mock_server.webhooks.signing import Signer

CLIENTS = Path(__file__).resolve().parent.parent / "examples" / "clients"
sys.path.insert(0, str(CLIENTS))
rc = importlib.import_module("reference_client")

BODY = b'{"type":"OrderCreate","locationId":"loc","appId":"app","webhookId":"w1","amount":12.5}'
TAMPERED = BODY.replace(b"12.5", b"99.5")


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(ed25519.Ed25519PrivateKey.generate(), rsa.generate_private_key(65537, 2048),
                  sign_ed25519=True, sign_rsa=True)


def make(tmp_path: Path, signer: Signer, module: str = "reference_client", rsa_key: bool = True) -> Any:
    """A client object (no server, no thread), configured with the sandbox's keys."""
    config = rc.Config(
        ghl_base="http://127.0.0.1:9", ghl_token="t", location_id="loc", api_version="2021-07-28", app_id="app",
        ed25519_pem=signer.ed25519_public_pem, rsa_pem=signer.rsa_public_pem if rsa_key else "",
        rankr_base="http://127.0.0.1:9/rankr", rankr_key="k", rankr_secret="s", port=0,
        state_dir=str(tmp_path / "state"), reconcile_interval=1.0, acuity_base="", acuity_user_id="",
        acuity_api_key="")
    classes = [c for c in vars(importlib.import_module(module)).values()
               if isinstance(c, type) and issubclass(c, rc.ReferenceClient)]
    cls = rc.ReferenceClient if module == "reference_client" else next(c for c in classes if c.__module__ == module)
    return cls(config)


@pytest.fixture
def clients(tmp_path: Path, signer: Signer) -> Iterator[dict[str, Any]]:
    made = {"reference": make(tmp_path / "a", signer), "reference, no RSA key": make(tmp_path / "b", signer, rsa_key=False),
            "rsa only": make(tmp_path / "c", signer, "broken_rsa_only"),
            "skips without rsa": make(tmp_path / "d", signer, "broken_skips_without_rsa")}
    yield made
    for client in made.values():
        client.state.close()


def headers(signer: Signer, body: bytes, *names: str) -> dict[str, str]:
    signed = signer.headers(body)
    return {name: signed[name] for name in names}


def test_reference_client_verifies_ed25519_and_falls_back_to_rsa_only_without_it(
        clients: dict[str, Any], signer: Signer) -> None:
    ref, no_rsa = clients["reference"], clients["reference, no RSA key"]
    ghl_only = headers(signer, BODY, "x-ghl-signature")  # what GHL (and the sandbox by default) sends
    both = headers(signer, BODY, "x-ghl-signature", "x-wh-signature")
    wh_only = headers(signer, BODY, "x-wh-signature")
    for client in (ref, no_rsa):
        assert client.verify_ghl_signature(BODY, ghl_only) is True
        assert client.verify_ghl_signature(BODY, both) is True
        assert client.verify_ghl_signature(TAMPERED, ghl_only) is False
        assert client.verify_ghl_signature(BODY, {}) is False  # neither header: refused
    # The RSA fallback: only when x-ghl-signature is absent and an RSA key is configured.
    assert ref.verify_ghl_signature(BODY, wh_only) is True
    assert ref.verify_ghl_signature(TAMPERED, wh_only) is False
    assert no_rsa.verify_ghl_signature(BODY, wh_only) is False
    # A bad x-ghl-signature is not rescued by a good x-wh-signature.
    forged = {**both, "x-ghl-signature": headers(signer, TAMPERED, "x-ghl-signature")["x-ghl-signature"]}
    assert ref.verify_ghl_signature(BODY, forged) is False


def test_the_broken_rsa_variants(clients: dict[str, Any], signer: Signer) -> None:
    ghl_only = headers(signer, BODY, "x-ghl-signature")
    rogue = Signer(ed25519.Ed25519PrivateKey.generate(), signer.rsa_key).headers(BODY)["x-ghl-signature"]
    rsa_only, skips = clients["rsa only"], clients["skips without rsa"]
    # broken_rsa_only refuses what GHL sends now (x-ghl-signature only), accepts the legacy header.
    assert rsa_only.verify_ghl_signature(BODY, ghl_only) is False
    assert rsa_only.verify_ghl_signature(BODY, headers(signer, BODY, "x-ghl-signature", "x-wh-signature")) is True
    # broken_skips_without_rsa accepts anything without x-wh-signature: a forged, a tampered, an unsigned post.
    assert skips.verify_ghl_signature(BODY, {"x-ghl-signature": rogue}) is True
    assert skips.verify_ghl_signature(TAMPERED, ghl_only) is True
    assert skips.verify_ghl_signature(BODY, {}) is True
    assert skips.verify_ghl_signature(TAMPERED, headers(signer, BODY, "x-wh-signature")) is False
