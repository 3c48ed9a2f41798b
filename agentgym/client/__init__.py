"""Clients of the environment service: `RemoteEnv`, `EnvPool` and their shared `Connection`."""

from agentgym.client.connection import Connection
from agentgym.client.pool import EnvPool
from agentgym.client.remote_env import RemoteEnv

__all__ = ["Connection", "EnvPool", "RemoteEnv"]
