"""`/_sandbox/openapi/`: the running sandbox serves its own contracts (the control plane's, and each
service's `Service.contracts`), so Schemathesis, Postman or an SDK generator can load them from a
running instance. YAML as written (`application/yaml`), or JSON with `Accept: application/json` or
`?format=json`.

The files are package data: each package holds a symlink to its document under contracts/ (the build
copies the file into the wheel), so a checkout and an installed sandbox serve the same documents.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response

from mock_server.control.common import sandbox as sandbox_of
from mock_server.control.validation import CONTRACT, validated_query
from mock_server.errors import NotFound
from mock_server.http.errors import json_response

PREFIX = "/_sandbox/openapi/"
YAML = "application/yaml"


@dataclass(frozen=True)
class Contract:
    name: str  # the file's name without `.openapi.yaml`: `sandbox-control`, ...
    file: Path


def contract_name(file: Path) -> str:
    name = file.name
    for suffix in (".yaml", ".yml", ".json", ".openapi"):
        name = name.removesuffix(suffix)
    return name


def contracts(request: Request) -> list[Contract]:
    """The control plane's own document, then what each service declares, in service order."""
    files = [CONTRACT, *(f for s in sandbox_of(request).services for f in s.contracts)]
    return [Contract(contract_name(f), f) for f in files]


@functools.lru_cache(maxsize=32)
def _document(file: Path, mtime: float) -> dict[str, Any]:
    """The document as JSON data (YAML dates and numeric keys become strings, as a JSON reader sees them)."""
    with file.open(encoding="utf-8") as fh:
        loaded = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    data: dict[str, Any] = json.loads(json.dumps(loaded, default=str))
    return data


def document(contract: Contract) -> dict[str, Any]:
    return _document(contract.file, contract.file.stat().st_mtime)


async def list_contracts(request: Request) -> Response:
    """`GET /_sandbox/openapi/`: `{contracts: [{name, path, title}]}`."""
    listed = [{"name": c.name, "path": PREFIX + c.name,
               "title": str(document(c).get("info", {}).get("title", c.name))} for c in contracts(request)]
    return json_response({"contracts": listed})


def _wants_json(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "json"
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "yaml" not in accept


async def get_contract(request: Request) -> Response:
    """`GET /_sandbox/openapi/{name}`: one document, YAML unless JSON is asked for."""
    fmt = validated_query(request, "sandbox-get-openapi").get("format")
    name = request.path_params["name"]
    known = contracts(request)
    found = next((c for c in known if c.name == name), None)
    if found is None:
        raise NotFound(f"Unknown contract {name}; known: {', '.join(c.name for c in known)}")
    if _wants_json(request, fmt):
        return json_response(document(found))
    return Response(found.file.read_bytes(), media_type=YAML)
