"""The same trivial echo environment written for OpenEnv (PyPI `openenv`), with its client.

Runs only inside OpenEnv's own virtual environment (its pydantic pin differs from ours). The
server is OpenEnv's documented one, `create_app(...)` served by uvicorn:

    cd benchmarks/server && /tmp/openenv-venv/bin/python -m uvicorn --factory openenv_echo:create_echo_app \
        --host 127.0.0.1 --port 8001 --log-level warning

`BENCH_OPENENV_MAX_SESSIONS` sets `max_concurrent_envs` (default 8192). `BENCH_OPENENV_ENV`
picks the environment: `async` (default; `reset_async`/`step_async` run on the event loop,
like agentgym's async Env) or `sync` (the template's plain `reset`/`step`, which OpenEnv runs in
each session's own worker thread).
"""

from __future__ import annotations

import os
from typing import Any

from openenv.core import EnvClient
from openenv.core.client_types import StepResult
from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field


class EchoAction(Action):
    message: str = Field(..., description="text to echo")


class EchoObservation(Observation):
    text: str = Field(default="", description="the echoed text")


class SyncEchoEnvironment(Environment):
    """Each step answers with the action's text, reward 0 and a step counter; never ends."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._state = State(episode_id="0", step_count=0)

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> EchoObservation:
        self._state = State(episode_id=episode_id or "0", step_count=0)
        return EchoObservation(text="ready", reward=0.0, done=False)

    def step(self, action: EchoAction, timeout_s: float | None = None, **kwargs: Any) -> EchoObservation:  # type: ignore[override]
        self._state.step_count += 1
        return EchoObservation(text=action.message, reward=0.0, done=False, metadata={"step": self._state.step_count})

    @property
    def state(self) -> State:
        return self._state


class AsyncEchoEnvironment(SyncEchoEnvironment):
    """The same environment with async methods, which OpenEnv runs on its event loop."""

    async def reset_async(
        self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any
    ) -> EchoObservation:
        return self.reset(seed=seed, episode_id=episode_id)

    async def step_async(self, action: EchoAction, timeout_s: float | None = None, **kwargs: Any) -> EchoObservation:  # type: ignore[override]
        return self.step(action)


def create_echo_app() -> Any:
    """OpenEnv's FastAPI app serving the echo environment (a uvicorn `--factory`)."""
    environment = (
        AsyncEchoEnvironment if os.environ.get("BENCH_OPENENV_ENV", "async") == "async" else SyncEchoEnvironment
    )
    return create_app(
        environment,
        EchoAction,
        EchoObservation,
        env_name="echo",
        max_concurrent_envs=int(os.environ.get("BENCH_OPENENV_MAX_SESSIONS", "8192")),
    )


class EchoClient(EnvClient[EchoAction, EchoObservation, State]):
    """OpenEnv's documented client pattern: one WebSocket, one server session per client."""

    def _step_payload(self, action: EchoAction) -> dict[str, Any]:
        return {"message": action.message}

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[EchoObservation]:
        observation = payload.get("observation", {})
        return StepResult(
            observation=EchoObservation(
                text=observation.get("text", ""),
                done=payload.get("done", False),
                reward=payload.get("reward"),
                metadata=payload.get("metadata", {}),
            ),
            reward=payload.get("reward"),
            done=payload.get("done", False),
        )

    def _parse_state(self, payload: dict[str, Any]) -> State:
        return State(episode_id=payload.get("episode_id"), step_count=payload.get("step_count", 0))
