"""The public API for harness plugins: the same decorators the built-in checks, steps and
destination adapters use. A plugin is a module (`my_checks`) or a file (`./ci/checks.py`) named in the
project file's `harness.plugins` or with `ghl-sandbox check --plugin`; importing it registers what it
defines.

    from scenarios.plugin import ScenarioContext, Verdict, check, step

    @check("no_orphan_transactions", "eventual", hint="sync an order before its transactions")
    def no_orphan_transactions(ctx: ScenarioContext) -> Verdict:
        orders = {o["orderId"] for o in ctx.records("orders")}
        orphans = [t["transactionId"] for t in ctx.records("transactions") if t["orderId"] not in orders]
        return Verdict.failed("orphan transactions", orphans) if orphans else Verdict.passed("none")

    @step("note", schema={"type": "string"})
    def note(ctx: ScenarioContext, spec: dict) -> str:
        return f"note: {spec['note']}"
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

from scenarios.checks import REGISTRY, Verdict, check
from scenarios.context import HarnessError, ScenarioContext
from scenarios.destinations import Binding, Destination, KindRead, NotExposed, adapter
from scenarios.steps import STEPS, step

__all__ = ["REGISTRY", "STEPS", "Binding", "Destination", "HarnessError", "KindRead", "NotExposed",
           "ScenarioContext", "Verdict", "adapter", "check", "load", "step"]


class PluginError(Exception):
    """A plugin that cannot be imported; the message names it and where its code failed."""


def load(specs: list[str], base_dir: Path) -> None:
    """Import each plugin: a path (ends in .py or contains a /) relative to `base_dir`, else a module
    name importable from `base_dir` or the environment."""
    for spec in specs:
        try:
            if spec.endswith(".py") or "/" in spec:
                path = (base_dir / spec).resolve()
                if not path.is_file():
                    raise PluginError(f"plugin {spec}: no such file {path}")
                name = f"ghl_sandbox_plugin_{path.stem}"
                module_spec = importlib.util.spec_from_file_location(name, path)
                if module_spec is None or module_spec.loader is None:
                    raise PluginError(f"plugin {spec}: cannot be imported from {path}")
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[name] = module
                module_spec.loader.exec_module(module)
            else:
                if str(base_dir) not in sys.path:
                    sys.path.insert(0, str(base_dir))
                importlib.import_module(spec)
        except PluginError:
            raise
        except ModuleNotFoundError as exc:
            if exc.name and spec.startswith(exc.name):
                raise PluginError(f"plugin {spec}: no module named {exc.name!r} (looked in {base_dir} and "
                                  "the Python path)") from None
            raise PluginError(f"plugin {spec}: {_where(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - the user's code: say where it failed, briefly
            raise PluginError(f"plugin {spec}: {_where(exc)}") from None


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    frame = frames[-1] if frames else None
    at = f"{frame.filename}:{frame.lineno}: " if frame else ""
    return f"{at}{type(exc).__name__}: {exc}"
