"""A Gymnasium wrapper that reports `info["success"]` for games whose only terminal state is the goal."""

from __future__ import annotations

from typing import Any

import gymnasium


class SuccessOnTermination(gymnasium.Wrapper):
    """Adds `info["success"]` to the step that ends the Gymnasium episode: True when it
    terminated (the goal was reached: Taxi's delivery, CliffWalking's goal cell), False when it
    was only truncated. The agentgym bridge passes Gymnasium's info through."""

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            info = {**info, "success": bool(terminated)}
        return observation, reward, terminated, truncated, info
