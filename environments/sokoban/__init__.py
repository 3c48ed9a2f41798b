"""Sokoban: push every box onto a target (RAGEN, verl-agent/GiGPO's Sokoban task).

| module | job |
|---|---|
| `board` | the state, the rule of one move, the text grid and its legend |
| `generator` | random rooms, solvable by construction (reverse play) within a move bound |
| `solver` | move-optimal A* over pushes with deadlock pruning; `SokobanSolver`, the expert agent |
| `env` | `SokobanEnv`: observations, rewards, fork |

Registered presets (the turn limit always admits the generated puzzle's optimal solution,
since `max_solution_moves` never exceeds it):

| id | room | boxes | optimal solution | max turns |
|---|---|---|---|---|
| `sokoban-easy-v0` | 6x6 | 1 | 1-3 moves | 6 (the training demo's task: valid random moves solve ~40%) |
| `sokoban-v0` | 6x6 | 1 | 3-15 moves | 15 (verl-agent's Sokoban limit) |
| `sokoban-8x8-2box-v0` | 8x8 | 2 | 6-30 moves | 30 |
| `sokoban-10x10-3box-v0` | 10x10 | 3 | 10-45 moves | 45 |
"""

from agentgym.registration import register as register_env

ENTRY_POINT = "agentgym.environments.sokoban.env:SokobanEnv"

PRESETS: dict[str, tuple[int, dict[str, int]]] = {
    "sokoban-easy-v0": (6, {"height": 6, "width": 6, "num_boxes": 1, "min_solution_moves": 1, "max_solution_moves": 3}),
    "sokoban-v0": (15, {"height": 6, "width": 6, "num_boxes": 1, "min_solution_moves": 3, "max_solution_moves": 15}),
    "sokoban-8x8-2box-v0": (30, {"height": 8, "width": 8, "num_boxes": 2, "min_solution_moves": 6, "max_solution_moves": 30}),
    "sokoban-10x10-3box-v0": (45, {"height": 10, "width": 10, "num_boxes": 3, "min_solution_moves": 10, "max_solution_moves": 45}),
}
"""id -> (max turns, SokobanEnv arguments)."""


def register() -> None:
    for env_id, (max_turns, kwargs) in PRESETS.items():
        register_env(
            env_id,
            ENTRY_POINT,
            max_turns=max_turns,
            description=f"Sokoban in a room generated per seed: {kwargs['height']}x{kwargs['width']}, {_boxes(kwargs['num_boxes'])}",
            capabilities={"fork": True},
            **kwargs,
        )


def _boxes(count: int) -> str:
    return "1 box" if count == 1 else f"{count} boxes"
