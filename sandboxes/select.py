"""Backends by name, and `best_available()`: the strongest isolation this machine can run."""

from __future__ import annotations

import importlib
import logging

from agentgym.sandboxes.base import Sandbox
from agentgym.sandboxes.types import SandboxUnavailable

log = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {
    "gvisor": "agentgym.sandboxes.gvisor:GVisorSandbox",
    "docker": "agentgym.sandboxes.docker:DockerSandbox",
    "bwrap": "agentgym.sandboxes.bwrap:BwrapSandbox",
    "local": "agentgym.sandboxes.local:LocalSandbox",
}
"""name -> "module:class" of every backend, strongest isolation first."""


def backend_class(name: str) -> type[Sandbox]:
    """The class of backend `name`; ValueError naming the choices for an unknown name."""
    if name not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def make_sandbox(name: str, **kwargs) -> Sandbox:
    """An instance of backend `name` (`best` for `best_available()`); kwargs go to its class."""
    if name == "best":
        return best_available(**kwargs)
    return backend_class(name)(**kwargs)


def available_backends() -> dict[str, str | None]:
    """name -> None if the backend runs here, else why not (local always "runs": it only
    needs `allow_unsafe=True`)."""
    reasons: dict[str, str | None] = {}
    for name in BACKENDS:
        try:
            reasons[name] = backend_class(name).unavailable_reason()
        except ImportError as error:
            reasons[name] = f"{error}"
    return reasons


def best_available(**kwargs) -> Sandbox:
    """The isolating backend with the highest `isolation` that runs here (never `local`), logged
    at INFO. Raises SandboxUnavailable listing why each one could not run."""
    reasons = available_backends()
    candidates = sorted(
        (backend_class(name) for name, reason in reasons.items() if reason is None and name != "local"),
        key=lambda cls: cls.isolation,
        reverse=True,
    )
    for cls in candidates:
        try:
            sandbox = cls(**kwargs)
        except SandboxUnavailable as error:
            reasons[cls.name] = str(error)
            continue
        log.info("sandbox backend: %s (strongest available)", cls.name)
        return sandbox
    detail = "; ".join(f"{name}: {reason}" for name, reason in reasons.items() if name != "local")
    raise SandboxUnavailable(f"no isolating sandbox backend runs here ({detail})")
