"""Webhook signatures over the exact raw body: Ed25519 in `x-ghl-signature` (what GHL sends) and, only
with `--legacy-wh-signature`, RSA-SHA256 PKCS#1 v1.5 in `x-wh-signature` (GHL retired it in 2026), each
base64. Both keys are generated on first start and kept with the state (store meta), so a restart with
`--state FILE` keeps them; the RSA key is kept (and served) even while the legacy header is off."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from mock_server.store import Store

META_KEY = "webhook_keys"
RSA_BITS = 2048  # GHL's key is 4096-bit; 2048 keeps a fresh start well under a second


# Keys made ahead by `prepare_keys`: the next signer with nothing saved takes them instead of generating.
_prepared: tuple[ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey] | None = None


def prepare_keys() -> None:
    """Generate a signer's keys ahead. A fork server does it once before it forks: each sandbox it forks
    takes its copy (the sandboxes of one `check --jobs` run then sign with the same keys, as GHL signs
    with one), instead of each generating an RSA key at its start."""
    global _prepared
    _prepared = _new_keys()


def _new_keys() -> tuple[ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey]:
    return ed25519.Ed25519PrivateKey.generate(), rsa.generate_private_key(65537, RSA_BITS)


@dataclass
class Signer:
    ed25519_key: ed25519.Ed25519PrivateKey
    rsa_key: rsa.RSAPrivateKey
    sign_ed25519: bool = True
    sign_rsa: bool = False  # the retired x-wh-signature: only with --legacy-wh-signature

    @classmethod
    def load_or_create(cls, store: Store) -> Signer:
        saved = store.get_meta(META_KEY)
        if saved:
            ed = serialization.load_pem_private_key(saved["ed25519"].encode(), password=None)
            rs = serialization.load_pem_private_key(saved["rsa"].encode(), password=None)
            assert isinstance(ed, ed25519.Ed25519PrivateKey) and isinstance(rs, rsa.RSAPrivateKey)
            return cls(ed, rs)
        global _prepared
        keys, _prepared = _prepared or _new_keys(), None
        signer = cls(*keys)
        signer.save(store)
        return signer

    def save(self, store: Store) -> None:
        def pem(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> str:
            return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()

        store.set_meta(META_KEY, {"ed25519": pem(self.ed25519_key), "rsa": pem(self.rsa_key)})

    @property
    def ed25519_public_pem(self) -> str:
        return self.ed25519_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @property
    def rsa_public_pem(self) -> str:
        return self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def header_names(self) -> list[str]:
        """The signature headers deliveries carry."""
        return [name for name, on in (("x-ghl-signature", self.sign_ed25519), ("x-wh-signature", self.sign_rsa)) if on]

    def headers(self, body: bytes) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.sign_ed25519:
            out["x-ghl-signature"] = base64.b64encode(self.ed25519_key.sign(body)).decode()
        if self.sign_rsa:
            sig = self.rsa_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
            out["x-wh-signature"] = base64.b64encode(sig).decode()
        return out
