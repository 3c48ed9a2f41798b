"""Typed errors of agentgym.

Every error a user can provoke is a subclass of `AgentGymError`, so callers can catch one base
class; each subclass names one cause and its message says how to fix it. `error_type` is the
stable, machine-readable name that services put in `{"error": {"type": ...}}` bodies.
"""

from __future__ import annotations


class AgentGymError(Exception):
    """Base class of every error agentgym raises on purpose."""

    error_type = "agentgym_error"


class NotForkable(AgentGymError):
    """`fork()` was called on an environment that cannot copy its state."""

    error_type = "not_forkable"


class ResetNeeded(AgentGymError):
    """`step()` was called before the first `reset()`."""

    error_type = "reset_needed"


class EpisodeEnded(ResetNeeded):
    """`step()` was called after the episode ended (terminated or truncated); call `reset()`."""

    error_type = "episode_ended"


class RegistrationError(AgentGymError):
    """An environment id, entry point or spec is malformed, or the id is already taken."""

    error_type = "registration_error"


class UnknownEnvironment(AgentGymError, LookupError):
    """No environment is registered under the requested id.

    `suggestions` holds the closest registered ids, best first (possibly empty).
    """

    error_type = "unknown_environment"

    def __init__(self, env_id: str, suggestions: list[str], message: str | None = None):
        self.env_id = env_id
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            message
            or f"No environment registered as {env_id!r}.{hint} Run `agentgym list` to see every registered id."
        )


class EnvContractError(AgentGymError, TypeError):
    """An environment broke the Env contract (for example `step` returned something that is
    not a `StepResult`). This is a bug in the environment, not in the caller."""

    error_type = "env_contract_error"


class RemoteError(AgentGymError):
    """An environment server answered an operation with an error.

    `status` is the HTTP status, `remote_type` the server's error type (e.g. 'seq_out_of_order').
    """

    error_type = "remote_error"

    def __init__(self, status: int, remote_type: str, message: str):
        super().__init__(f"[{status} {remote_type}] {message}")
        self.status = status
        self.remote_type = remote_type


class ServerBusy(RemoteError):
    """The server is at its session cap or shutting down (503); retry later or elsewhere."""

    error_type = "server_busy"


class SessionFailed(RemoteError):
    """The remote environment raised or timed out; its session is unusable. Make a new one."""

    error_type = "session_failed"


class ConnectionLost(AgentGymError, ConnectionError):
    """The connection to an environment server dropped and could not be re-established."""

    error_type = "connection_lost"
