"""Shared by the workflows tests: a sandbox subprocess driven over HTTP, a tiny OAuth2 token endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

from mock_server.testing import SandboxProcess

# Headers no workflow delivery carries (x-wh-signature: marketplace webhooks, only with --legacy-wh-signature).
SIGNATURE_HEADERS = ("x-ghl-signature", "x-wh-signature", "x-acuity-signature")


class Sandbox:
    def __init__(self, proc: SandboxProcess) -> None:
        self.proc = proc
        self.url = proc.url
        self.http = httpx.Client(base_url=proc.url, timeout=30)
        self.locations = self.ok("GET", "/_sandbox/locations")
        self.loc = self.locations[0]["locationId"]

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def sim(self, action: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("POST", f"/_sandbox/simulate/{action}", json={"locationId": self.loc, **body})
        return result

    def workflow(self, trigger: str, actions: list[dict[str, Any]], *, filters: list[dict[str, Any]] | None = None,
                 status: str = "published", name: str = "") -> dict[str, Any]:
        doc = {"locationId": self.loc, "name": name or f"{trigger} test", "status": status,
               "trigger": {"type": trigger, "filters": filters or []}, "actions": actions}
        created: dict[str, Any] = self.ok("POST", "/_sandbox/workflows", json=doc)
        return created

    def settle(self) -> None:
        r = self.http.get("/_sandbox/wait", params={"for": "deliveries-settled", "timeout": 20})
        assert r.status_code == 200, r.text

    def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.ok("GET", "/_sandbox/webhooks/deliveries",
                                              params={"service": "workflows", **params})["deliveries"]
        return found

    def clean(self) -> None:
        """No workflows, custom values, tokens, deliveries or runs left from a previous test."""
        self.ok("DELETE", "/_sandbox/workflows")
        self.settle()
        self.ok("POST", "/_sandbox/reset", json={})
        for loc in self.locations:
            values = self.ok("GET", "/_sandbox/workflows/custom-values", params={"locationId": loc["locationId"]})["values"]
            if values:
                self.ok("PUT", "/_sandbox/workflows/custom-values",
                        json={"locationId": loc["locationId"], "values": dict.fromkeys(values)})
            for token in self.ok("GET", "/_sandbox/workflows/tokens", params={"locationId": loc["locationId"]})["tokens"]:
                self.ok("DELETE", f"/_sandbox/workflows/tokens/{token['name']}", params={"locationId": loc["locationId"]})

    def close(self) -> None:
        self.http.close()


@contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[Sandbox]:
    with SandboxProcess(["--orders", "0", "--rate-limit", "off", *args], env=env) as proc:
        sb = Sandbox(proc)
        try:
            yield sb
        finally:
            sb.close()


class TokenEndpoint:
    """An OAuth2 token endpoint on loopback: answers client_credentials requests with a fresh token each time
    (`token-1`, `token-2`, ...) when the client id and secret match; records the forms it got."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.forms: list[dict[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                endpoint.forms.append(form)
                good = (form.get("grant_type") == "client_credentials" and form.get("client_id") == endpoint.client_id
                        and form.get("client_secret") == endpoint.client_secret)
                answer = ({"access_token": f"token-{len(endpoint.forms)}", "token_type": "Bearer", "expires_in": 3600}
                          if good else {"error": "invalid_client"})
                payload = json.dumps(answer).encode()
                self.send_response(200 if good else 401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/oauth/token"

    def __enter__(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
