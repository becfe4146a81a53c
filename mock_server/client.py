"""The one HTTP client of a running sandbox: its `/_sandbox` control plane
(contracts/sandbox-control.openapi.yaml) and the GHL API, over loopback HTTP as any user would.

Used by the pytest plugin and this project's tests (through `mock_server.testing`), the `ghl-sandbox`
commands that talk to a running sandbox, the harness (`scenarios/`), the demo and the benchmarks. It
speaks HTTP only: no server internals are imported, so it works against any sandbox, local or not.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from mock_server.http.tls import client_context  # re-exported: the harness makes its clients with it too

DEFAULT_VERSION = "2021-07-28"
CONTROL = "/_sandbox"
KEEP_ANSWERS = 32  # control-plane GET answers kept with their ETag, to be asked again with If-None-Match
KEEP_ANSWER_BYTES = 8 * 1024 * 1024  # a bigger answer is not kept


class SandboxError(httpx.HTTPStatusError):
    """A control-plane call that did not succeed: a non-2xx answer, or a 2xx that is not JSON.

    An `httpx.HTTPStatusError` (what callers caught before there was one client), carrying the status
    and the decoded GHL error envelope (`{statusCode, message, error}`; None when the body is not JSON)."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        self.status = response.status_code
        try:
            self.envelope: Any = response.json()
        except ValueError:
            self.envelope = None
        super().__init__(f"{method} {CONTROL}{path} answered {self.status}: {response.text[:300]}",
                         request=response.request, response=response)

    @property
    def message(self) -> str:
        """The envelope's `message` (a list of validation messages is joined with "; ")."""
        message = self.envelope.get("message") if isinstance(self.envelope, dict) else self.envelope
        if isinstance(message, list):
            message = "; ".join(map(str, message))
        return str(message)


class SandboxClient:
    """Typed helpers over the control plane and the GHL API of the sandbox at `url`.

    `control()` (and every typed helper) returns the decoded JSON answer and raises `SandboxError` on a
    non-2xx one; `request()` returns the raw response for callers that look at the status themselves."""

    def __init__(self, url: str, admin_token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        # UTF-8 bytes: httpx would refuse a non-ASCII token in a str header.
        headers = {b"Authorization": f"Bearer {admin_token}".encode()} if admin_token else {}
        # A malformed URL (`localhost:8080`) is not made a base: httpx would merge it into yet another
        # URL, and `request()` should fail on the URL as the user typed it.
        base = self.url if httpx.URL(self.url).is_absolute_url else ""
        self.http = httpx.Client(base_url=base, timeout=timeout, headers=headers, verify=client_context())
        # The last answer with an ETag of each GET asked through `control()`: asked again, the sandbox
        # answers 304 while what it read is unchanged, and the kept body is decoded instead.
        self._kept: OrderedDict[tuple[str, str], tuple[str, bytes]] = OrderedDict()
        self._kept_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the control plane: raw and checked ------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One control-plane call (`path` under /_sandbox), whatever it answered."""
        return self.http.request(method, self.url + CONTROL + path, **kwargs)

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """One control-plane call that must succeed: its JSON answer, else `SandboxError`. A GET whose
        last answer carried an ETag is asked with If-None-Match; a 304 answers with that last body."""
        if method == "GET" and "headers" not in kwargs:
            content, response = self._read(path, kwargs)
        else:
            response = self.request(method, path, **kwargs)
            if not response.is_success:
                raise SandboxError(method, path, response)
            content = response.content
        try:
            return orjson.loads(content)  # a fifth of a harness's CPU was the stdlib's decoder
        except orjson.JSONDecodeError:
            pass
        try:
            # What orjson refuses and the stdlib takes (NaN, integers past 64 bits); a 304's body is the kept one.
            return json.loads(content)
        except ValueError:
            raise SandboxError(method, path, response) from None

    def _read(self, path: str, kwargs: dict[str, Any]) -> tuple[bytes, httpx.Response]:
        """A control-plane GET that must succeed: its body (the kept one on a 304) and the response."""
        key = _kept_key(path, kwargs.get("params"))
        kept = self._kept_answer(key)
        headers = {"If-None-Match": kept[0]} if kept is not None else None
        response = self.http.request("GET", self.url + CONTROL + path, headers=headers, **kwargs)
        if response.status_code == 304 and kept is not None:
            return kept[1], response
        if not response.is_success:
            raise SandboxError("GET", path, response)
        self._keep(key, response.headers.get("etag"), response.content)
        return response.content, response

    def read_many(self, reads: Sequence[tuple[str, dict[str, Any] | None]]) -> list[httpx.Response]:
        """Several control-plane GETs (path, query params) in one request (`POST /_sandbox/batch`), each
        asked with its kept ETag as `control()` asks it: one answer per read, in order, a 304 standing
        for its kept body as a 200. Raises `SandboxError` when the batch itself is refused (a sandbox
        without `/batch` answers 404)."""
        keys = [_kept_key(path, params) for path, params in reads]
        kept = [self._kept_answer(key) for key in keys]
        items: list[dict[str, str]] = []
        for (path, params), tagged in zip(reads, kept, strict=True):
            query = str(httpx.QueryParams(params)) if params else ""
            item = {"path": path + ("?" + query if query else "")}
            if tagged is not None:
                item["ifNoneMatch"] = tagged[0]
            items.append(item)
        response = self.http.request("POST", self.url + CONTROL + "/batch", json={"requests": items})
        if not response.is_success:
            raise SandboxError("POST", "/batch", response)
        answers = orjson.loads(response.content)["responses"]
        out: list[httpx.Response] = []
        for key, item, tagged, answer in zip(keys, items, kept, answers, strict=True):
            status, tag = int(answer["status"]), answer.get("etag")
            if status == 304 and tagged is not None:
                status, content = 200, tagged[1]
            else:
                body = answer.get("body")
                content = b"" if body is None else body.encode() if isinstance(body, str) else orjson.dumps(body)
                if status == 200:
                    self._keep(key, tag, content)
            headers = {"content-type": "application/json"}
            if tag:
                headers["etag"] = tag
            out.append(httpx.Response(status, headers=headers, content=content,
                                      request=httpx.Request("GET", self.url + CONTROL + item["path"])))
        return out

    def _kept_answer(self, key: tuple[str, str]) -> tuple[str, bytes] | None:
        """The last tagged answer of a GET (tag, body), now the most recently used; None if none."""
        with self._kept_lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
        return kept

    def _keep(self, key: tuple[str, str], tag: str | None, content: bytes) -> None:
        with self._kept_lock:
            if tag and len(content) <= KEEP_ANSWER_BYTES:
                self._kept[key] = (tag, content)
                self._kept.move_to_end(key)
                while len(self._kept) > KEEP_ANSWERS:
                    self._kept.popitem(last=False)
            else:
                self._kept.pop(key, None)

    def health(self) -> dict[str, Any]:
        return self.control("GET", "/health")

    # locations, tokens, apps, keys
    def locations(self) -> list[dict[str, Any]]:
        return self.control("GET", "/locations")

    def location(self, index: int = 0) -> dict[str, Any]:
        return self.locations()[index]

    def new_location(self, **body: Any) -> dict[str, Any]:
        return self.control("POST", "/locations", json=body)

    def state(self, location_id: str) -> dict[str, Any]:
        """A location's whole GHL state (orders, transactions, subscriptions, fulfillments ...)."""
        return self.control("GET", f"/locations/{location_id}/state")

    def token(self, location_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", "/tokens", json={"locationId": location_id, **body})

    def keys(self) -> dict[str, Any]:
        """The webhook public keys (`ed25519PublicKey`, `rsaPublicKey`) and which signatures are sent."""
        return self.control("GET", "/keys")

    def apps(self) -> list[dict[str, Any]]:
        return self.control("GET", "/apps")

    # the world: reset, rate limit, clock, simulated actions
    def reset(self, **body: Any) -> dict[str, Any]:
        return self.control("POST", "/reset", json=body)

    def set_rate_limit(self, profile: str) -> dict[str, Any]:
        return self.control("PUT", "/ratelimit", json={"profile": profile})

    def clock(self) -> dict[str, Any]:
        return self.control("GET", "/clock")

    def set_clock(self, **body: Any) -> dict[str, Any]:
        """`POST /clock`: `advance=` seconds or "30s", "2h", "1w" ...; `freeze=` True or False."""
        return self.control("POST", "/clock", json=body)

    def advance_clock(self, seconds: float | str) -> dict[str, Any]:
        return self.set_clock(advance=seconds)

    def simulate(self, action: str, **body: Any) -> dict[str, Any]:
        """`POST /_sandbox/simulate/{action}`, e.g. `simulate("order.pay", orderId=..., amount=5)`."""
        return self.control("POST", f"/simulate/{action}", json=body)

    # the journal of API requests
    def journal(self, **params: Any) -> list[dict[str, Any]]:
        return self.control("GET", "/journal", params=params)["entries"]

    def clear_journal(self) -> None:
        self.control("DELETE", "/journal")

    # fault rules
    def fault(self, match: dict[str, Any], effect: dict[str, Any], **limits: Any) -> dict[str, Any]:
        """Add a fault rule, e.g. `fault({"method": "GET", "path": "/payments/orders"}, {"status": 503}, times=1)`."""
        return self.add_fault({"match": match, "effect": effect, **limits})

    def add_fault(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Add a fault rule given as the whole `POST /faults` body."""
        return self.control("POST", "/faults", json=rule)

    def faults(self) -> list[dict[str, Any]]:
        return self.control("GET", "/faults")

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    # webhooks
    def webhook_target(self, url: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", "/webhooks/targets", json={"url": url, **body})

    def targets(self) -> list[dict[str, Any]]:
        return self.control("GET", "/webhooks/targets")

    def delete_target(self, target_id: str) -> None:
        self.control("DELETE", f"/webhooks/targets/{target_id}")

    def webhook_policy(self) -> dict[str, Any]:
        return self.control("GET", "/webhooks/policy")

    def set_webhook_policy(self, **body: Any) -> dict[str, Any]:
        """`PUT /webhooks/policy` (`name`, `retryIntervalS`, `maxRetries`, `timeoutS`)."""
        return self.control("PUT", "/webhooks/policy", json=body)

    def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        return self.control("GET", "/webhooks/deliveries", params=params)["deliveries"]

    def wait_for(self, what: str = "deliveries-settled", timeout: float | str = 10.0) -> httpx.Response:
        """`GET /wait`: 200 once it happened, 408 when `timeout` (seconds) passed first; both with JSON."""
        return self.request("GET", "/wait", params={"for": what, "timeout": str(timeout)})

    def wait_settled(self, timeout: float = 10.0) -> bool:
        return self.wait_for("deliveries-settled", timeout).status_code == 200

    # the fake Rankr
    def send_rankr_event(self, **body: Any) -> dict[str, Any]:
        """`POST /rankr/events`: sign and send a Rankr event to a client (`url`, `orderId`, `items` ...)."""
        return self.control("POST", "/rankr/events", json=body)

    # ---- the GHL API ------------------------------------------------------------------------------

    def api(self, method: str, path: str, token: str, version: str | None = DEFAULT_VERSION,
            **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers.setdefault("Authorization", f"Bearer {token}")
        if version is not None:
            headers.setdefault("Version", version)
        return self.http.request(method, path, headers=headers, **kwargs)


def _kept_key(path: str, params: dict[str, Any] | None) -> tuple[str, str]:
    """What names a control-plane GET among the kept answers: its path and query parameters."""
    return path, repr(params)
