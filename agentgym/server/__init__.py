"""The environment service: any registered environment as an async HTTP/WebSocket server."""

from agentgym.server.app import create_app
from agentgym.server.sessions import ServerLimits

__all__ = ["ServerLimits", "create_app"]
