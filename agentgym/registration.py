"""The environment registry: `register`, `make`, `spec`, `list_envs`.

Environments are registered under versioned ids (`name-vN`, or `namespace/name-vN` for
third-party packages). Installed packages register theirs through the entry-point group
`agentgym.environments`: each entry point names a function that calls `register` (or a module
that does so on import). Entry points are loaded once, on the first lookup.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
import threading
from collections.abc import Callable
from typing import Any

from agentgym.env import Env
from agentgym.errors import EnvContractError, RegistrationError, UnknownEnvironment
from agentgym.types import Capabilities, EnvSpec
from agentgym.wrappers import EpisodeGuard, TimeLimit

ENTRY_POINT_GROUP = "agentgym.environments"

logger = logging.getLogger(__name__)

_registry: dict[str, EnvSpec] = {}
_plugins_loaded = False
_plugins_lock = threading.RLock()


def register(
    id: str,
    entry_point: str | Callable[..., Env],
    *,
    max_turns: int | None = None,
    description: str = "",
    capabilities: Capabilities | dict[str, bool] | None = None,
    **defaults: Any,
) -> EnvSpec:
    """Register an environment under `id` and return its spec.

    Args:
        id: `name-vN` or `namespace/name-vN`.
        entry_point: `"package.module:ClassName"` (imported lazily) or a callable returning an Env.
        max_turns: time limit applied by `make` (None: none).
        description: one line shown by `agentgym list`.
        capabilities: what the environment offers (fork, images, tools).
        **defaults: default keyword arguments for the entry point.

    Registering the identical spec again is a no-op; a different spec under a taken id raises
    `RegistrationError` (use a namespace or a new version).
    """
    try:
        new_spec = EnvSpec(
            id=id,
            entry_point=entry_point,
            kwargs=defaults,
            max_turns=max_turns,
            description=description,
            capabilities=Capabilities.model_validate(capabilities or {}),
        )
    except ValueError as error:
        raise RegistrationError(f"cannot register {id!r}: {error}") from error
    with _plugins_lock:
        existing = _registry.get(id)
        if existing is not None and existing != new_spec:
            raise RegistrationError(
                f"{id!r} is already registered with entry point {existing.model_dump()['entry_point']!r}; "
                "register under a namespace ('mypackage/name-v0') or bump the version"
            )
        _registry[id] = new_spec
    return new_spec


def load_plugins(*, reload: bool = False) -> None:
    """Load every `agentgym.environments` entry point (once, unless `reload`).

    A plugin that fails to load is logged and skipped; it never breaks the registry.
    """
    global _plugins_loaded
    with _plugins_lock:
        if _plugins_loaded and not reload:
            return
        _plugins_loaded = True
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = entry_point.load()
                if callable(target):
                    target()
            except Exception:
                logger.exception("agentgym plugin %r (%s) failed to register", entry_point.name, entry_point.value)


def spec(env_id: str) -> EnvSpec:
    """The spec registered under `env_id`.

    Raises:
        UnknownEnvironment: nothing is registered under that id; the error lists the closest ids.
    """
    load_plugins()
    try:
        return _registry[env_id]
    except KeyError:
        suggestions = difflib.get_close_matches(env_id, list(_registry), n=3, cutoff=0.5)
        raise UnknownEnvironment(env_id, suggestions) from None


def list_envs() -> list[EnvSpec]:
    """Every registered spec, sorted by id."""
    load_plugins()
    return [_registry[env_id] for env_id in sorted(_registry)]


_USE_SPEC: Any = object()


def make(env_id: str, *, max_turns: int | None = _USE_SPEC, **kwargs: Any) -> Env:
    """Build the environment registered under `env_id`.

    `kwargs` override the spec's defaults. `max_turns` overrides the spec's time limit (None
    removes it). The result is wrapped in `TimeLimit` (when there is a limit) and, outermost,
    `EpisodeGuard`, which enforces reset-before-step and no-step-after-end.

    `env_id` may also be a server URL, `ws://host:port/ID` (or http://): the result is then a
    `RemoteEnv` for a new session of ID on that server (created on the first reset; the
    server applies its own wrappers, so `max_turns` cannot be changed from here).

    Raises:
        UnknownEnvironment: the id is not registered.
        RegistrationError: the entry point cannot be imported (often a missing optional extra).
        EnvContractError: the entry point returned something that is not an `Env`.
    """
    if is_env_url(env_id):
        if max_turns is not _USE_SPEC:
            raise ValueError("max_turns is set by the server for remote environments; start the server with the limit you want")
        return _make_remote(env_id, kwargs)
    env_spec = spec(env_id)
    factory = _resolve(env_spec)
    env = factory(**{**env_spec.kwargs, **kwargs})
    if not isinstance(env, Env):
        raise EnvContractError(f"the entry point of {env_id!r} returned {type(env).__name__}, not an agentgym Env")
    limit = env_spec.max_turns if max_turns is _USE_SPEC else max_turns
    # Set on the innermost env: a factory may return a Wrapper, whose `spec` is a read-only view of it.
    env.unwrapped.spec = env_spec.model_copy(update={"kwargs": {**env_spec.kwargs, **kwargs}, "max_turns": limit})
    if limit is not None:
        env = TimeLimit(env, limit)
    return EpisodeGuard(env)


def is_env_url(text: str) -> bool:
    """True when `text` names a served environment (`ws://host:port/ID`, or http(s)://, wss://)."""
    return text.startswith(("ws://", "wss://", "http://", "https://"))


def split_env_url(url: str) -> tuple[str, str]:
    """(server URL, environment id) of `ws://host:port/ID`.

    Raises:
        ValueError: the URL names no environment.
    """
    scheme, _, rest = url.partition("://")
    host, _, env_id = rest.partition("/")
    if not env_id:
        raise ValueError(f"the URL {url!r} names no environment; use ws://host:port/ENV_ID")
    return f"{scheme}://{host}", env_id


def _make_remote(url: str, kwargs: dict[str, Any]) -> Env:
    from agentgym.client import Connection, RemoteEnv  # the client is only loaded when used

    server, env_id = split_env_url(url)
    return RemoteEnv(Connection(server), env_id, kwargs, owns_connection=True)


def _resolve(env_spec: EnvSpec) -> Callable[..., Env]:
    if callable(env_spec.entry_point):
        return env_spec.entry_point
    module_name, _, attribute = env_spec.entry_point.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except ImportError as error:
        raise RegistrationError(
            f"cannot import {env_spec.entry_point!r} for {env_spec.id!r}: {error}. If a package is "
            "missing, install the agentgym extra this environment needs: pip install 'agentgym[EXTRA]' "
            "(docs/environments.md names each environment's extra)"
        ) from error
    except AttributeError as error:
        raise RegistrationError(f"entry point {env_spec.entry_point!r} of {env_spec.id!r} does not exist: {error}") from error
    return target
