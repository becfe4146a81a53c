"""The `http` destination: the client's records read from an HTTP API that answers JSON
(contracts/PROJECT_FILE.md, "http").

    [destination]
    adapter = "http"
    headers = { Authorization = "Bearer {rankr.api_key}" }   # templated
    timeout = 10
    [destination.orders]
    url = "{rankr.base_url}/v1/orders"   # templated; GET
    list = "data"                        # dotted path to the list; "" (default) = the answer is the list
    [destination.orders.fields]
    orderId = "id"                       # dotted paths inside each record (numbers index lists)

An answer that is not 2xx, not JSON or has no list where `list` says is a problem of that read."""

from __future__ import annotations

from typing import Any

import httpx

from mock_server.client import client_context
from scenarios.destinations.base import (
    KINDS,
    Binding,
    Destination,
    DestinationError,
    KindRead,
    NotExposed,
    adapter,
)
from scenarios.destinations.mapping import KindMapping, dotted, parse_fields
from scenarios.project import ConfigError, Table
from scenarios.templates import TemplateError


class _Kind:
    def __init__(self, url: str, list_path: str, mapping: KindMapping, key: str) -> None:
        self.url_template = url
        self.list_path = list_path
        self.mapping = mapping
        self.key = key  # destination.<kind>
        self.url = ""


@adapter("http")
class HttpDestination(Destination):
    def __init__(self, options: Table) -> None:
        super().__init__(options)
        self.header_templates = options.mapping("headers", template=True)
        self.timeout = options.number("timeout", 10.0, minimum=0.1, maximum=600) or 10.0
        self.specs: dict[str, _Kind] = {}
        for kind in KINDS:
            table = options.table(kind)  # read every kind, so that only misspelt ones are unknown keys
            if not options.has(kind):
                continue
            url = table.required_string("url", template=True)
            if not url.startswith(("http://", "https://", "{")):
                raise ConfigError(table.path("url"), f"must be an http:// or https:// URL, not {url!r}")
            list_path = table.string("list", "") or ""
            mapping = parse_fields(kind, table.table("fields"), "path")
            table.reject_unknown()
            self.specs[kind] = _Kind(url, list_path, mapping, table.key)
        options.reject_unknown()
        self.http: httpx.Client | None = None

    def kinds(self) -> frozenset[str]:
        return frozenset(self.specs)

    def start(self, binding: Binding) -> None:
        self.stop()
        super().start(binding)
        try:
            headers = {name: binding.render(value) for name, value in self.header_templates.items()}
            for spec in self.specs.values():
                spec.url = binding.render(spec.url_template)
        except TemplateError as exc:
            raise DestinationError(f"destination: {exc}") from None
        self.http = httpx.Client(headers=headers, timeout=self.timeout, follow_redirects=True,
                                 verify=client_context())

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    def read(self, kind: str) -> KindRead:
        spec = self.specs.get(kind)
        if spec is None:
            raise NotExposed(kind)
        if self.http is None:
            raise DestinationError("the http destination was read before start()")
        where = f"{kind}: {spec.key}.url: GET {spec.url}"
        try:
            response = self.http.get(spec.url)
        except httpx.HTTPError as exc:
            return KindRead([], [f"{where}: {type(exc).__name__}: {exc}"[:500]])
        if not response.is_success:
            return KindRead([], [f"{where} answered {response.status_code}: {_snippet(response.text)}"])
        try:
            answer: Any = response.json()
        except ValueError:
            return KindRead([], [f"{where}: the answer is not JSON: {_snippet(response.text)}"])
        if spec.list_path:
            found, records = dotted(answer, spec.list_path)
            if not found:
                return KindRead([], [f"{kind}: {spec.key}.list: the answer has no {spec.list_path!r} "
                                     f"(it has: {_keys(answer)})"])
        else:
            records = answer
        if not isinstance(records, list):
            shown = repr(spec.list_path) if spec.list_path else "the answer"
            return KindRead([], [f"{kind}: {spec.key}.list: {shown} is {_json_kind(records)}, not a list"])
        return spec.mapping.apply(records, dotted)

    def describe(self) -> str:
        return "http " + ", ".join(f"{k}={s.url or s.url_template}" for k, s in self.specs.items())


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:200] + ("..." if len(text) > 200 else ""))


def _keys(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(map(str, list(value)[:20])) or "no keys"
    return f"no keys: it is {_json_kind(value)}"


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"
