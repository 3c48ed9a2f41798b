"""The `agentgym` command line: list, inspect and play registered environments.

Each subcommand is two small functions: `_add_<name>_parser(subparsers)` declares its arguments
and sets `handler`, and `cmd_<name>(args, ui) -> int` does the work and returns the exit status.
To add a command, write both and append the `_add_...` function to `COMMANDS`.

Exit statuses: 0 success, 1 failure while running, 2 bad usage (unknown id, bad arguments or
keyword arguments, no command), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

import agentgym
from agentgym.env import Env
from agentgym.errors import AgentGymError, UnknownEnvironment
from agentgym.server.run import serve
from agentgym.server.sessions import ServerLimits
from agentgym.types import EnvSpec, Observation, StepResult

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

QUIT_COMMAND = ":quit"
PROMPT = "action> "


@dataclass
class UI:
    """Where a command writes: `out` for results, `err` for errors and diagnostics."""

    out: Console
    err: Console

    def error(self, message: str) -> None:
        """Print `error: message` to stderr, without markup parsing or hard wrapping."""
        self.err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)


Handler = Callable[[argparse.Namespace, UI], int]


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and epilogs (the examples)."""


# --- formatting helpers ---------------------------------------------------------------------


def _capability_tags(spec: EnvSpec) -> list[str]:
    caps = spec.capabilities
    return [name for name, offered in (("fork", caps.fork), ("images", caps.images), ("tools", caps.tools)) if offered]


def _spec_json(spec: EnvSpec) -> dict[str, Any]:
    """The spec as JSON data; kwargs that JSON cannot hold are written as their repr."""
    try:
        return spec.model_dump(mode="json")
    except Exception:  # pydantic cannot serialise some default kwarg: fall back to repr
        return json.loads(json.dumps(spec.model_dump(), default=repr))


def _print_json(data: Any) -> None:
    # Plain print, not rich: machine-readable output must not be wrapped or highlighted.
    print(json.dumps(data, indent=2))


def _number(value: float) -> str:
    """A reward or return for people: 1.0, -0.1, 0.7 (rounding away float noise)."""
    return repr(round(float(value), 6) + 0.0)  # + 0.0 turns -0.0 into 0.0


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def parse_kwarg(text: str) -> tuple[str, Any]:
    """Parse a `KEY=VALUE` option: VALUE is JSON when it parses (numbers, booleans, null,
    lists, objects), else the literal string. Raises `argparse.ArgumentTypeError` otherwise."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python identifier, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a config override `SECTION.KEY=VALUE` (dotted identifiers; VALUE as for `parse_kwarg`)."""
    key = text.partition("=")[0].strip()
    if "=" not in text or not all(part.isidentifier() for part in key.split(".")):
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with KEY dotted identifiers (e.g. optim.steps=5), got {text!r}"
        )
    return key, parse_kwarg("value=" + text.partition("=")[2])[1]


def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`, described as `what` in errors."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


# --- list -----------------------------------------------------------------------------------


def _add_list_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list the registered environments",
        description="List every registered environment: id, time limit, capabilities, description.",
        epilog="examples:\n  agentgym list\n  agentgym list --json | jq '.[].id'",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the specs as a JSON list instead of a table")
    parser.set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace, ui: UI) -> int:
    specs = agentgym.list_envs()
    if args.json:
        _print_json([_spec_json(spec) for spec in specs])
        return EXIT_OK
    if not specs:
        ui.out.print("No environments are registered.")
        return EXIT_OK
    table = Table(title="Registered environments", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("id", style="bold cyan", no_wrap=True)
    table.add_column("max turns", justify="right", no_wrap=True)
    table.add_column("capabilities", style="green", no_wrap=True)
    table.add_column("description")
    for spec in specs:
        table.add_row(
            Text(spec.id),
            "-" if spec.max_turns is None else str(spec.max_turns),
            " ".join(_capability_tags(spec)) or "-",
            Text(spec.description),
        )
    ui.out.print(table)
    return EXIT_OK


# --- info -----------------------------------------------------------------------------------


def _add_info_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show everything registered for one environment",
        description="Show one environment's spec: id, entry point, default keyword arguments,\n"
        "time limit (max turns), capabilities and description.",
        epilog="examples:\n  agentgym info guess-number-v0\n  agentgym info guess-number-v0 --json",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("env_id", metavar="ID", help="environment id, e.g. guess-number-v0")
    parser.add_argument("--json", action="store_true", help="print the spec as JSON")
    parser.set_defaults(handler=cmd_info)


def cmd_info(args: argparse.Namespace, ui: UI) -> int:
    try:
        spec = agentgym.spec(args.env_id)
    except UnknownEnvironment as error:
        ui.error(str(error))
        return EXIT_USAGE
    data = _spec_json(spec)
    if args.json:
        _print_json(data)
        return EXIT_OK
    caps = spec.capabilities
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("id", Text(spec.id))
    grid.add_row("entry point", Text(data["entry_point"]))
    grid.add_row("default kwargs", Text(json.dumps(data["kwargs"]) if data["kwargs"] else "(none)"))
    grid.add_row("max turns", "no limit" if spec.max_turns is None else str(spec.max_turns))
    grid.add_row(
        "capabilities",
        f"fork: {_yes_no(caps.fork)}, images: {_yes_no(caps.images)}, tools: {_yes_no(caps.tools)}",
    )
    grid.add_row("description", Text(spec.description or "(none)"))
    grid.add_row("play it", Text(f"agentgym play {spec.id}"))
    ui.out.print(Panel(grid, title=Text(spec.id), title_align="left", expand=False))
    return EXIT_OK


# --- play -----------------------------------------------------------------------------------


def _add_play_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "play",
        help="play one episode yourself in the terminal",
        description="Play one episode of an environment in the terminal: you type each turn's\n"
        "action (the raw text a model would send) and see the observation, the reward and\n"
        "whether the episode terminated or was truncated.\n"
        f"Type {QUIT_COMMAND} or press Ctrl-D to end the episode early; Ctrl-C exits (status 130).",
        epilog="examples:\n"
        "  agentgym play guess-number-v0\n"
        "  agentgym play guess-number-v0 --seed 3\n"
        "  agentgym play guess-number-v0 --kwarg low=1 --kwarg high=10 --max-turns 4",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("env_id", metavar="ID", help="environment id, e.g. guess-number-v0")
    parser.add_argument("--seed", type=int, default=None, help="seed for reset (default: random)")
    parser.add_argument(
        "--kwarg",
        dest="kwargs",
        metavar="KEY=VALUE",
        type=parse_kwarg,
        action="append",
        default=[],
        help="keyword argument for the environment, overriding the spec's default; VALUE is read "
        "as JSON when it parses (1, 0.5, true, null, [1,2]), else as a string; repeatable",
    )
    parser.add_argument(
        "--max-turns",
        type=_positive_int,
        default=None,
        metavar="N",
        help="end the episode (truncated) after N turns instead of the spec's limit",
    )
    parser.set_defaults(handler=cmd_play)


@dataclass
class EpisodeSummary:
    turns: int = 0
    total_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    quit_early: bool = False


def cmd_play(args: argparse.Namespace, ui: UI) -> int:
    kwargs = dict(args.kwargs)
    make_kwargs: dict[str, Any] = dict(kwargs)
    if args.max_turns is not None:
        make_kwargs["max_turns"] = args.max_turns
    try:
        env = agentgym.make(args.env_id, **make_kwargs)
    except UnknownEnvironment as error:
        ui.error(str(error))
        return EXIT_USAGE
    except (AgentGymError, TypeError, ValueError) as error:
        shown = f" with {json.dumps(kwargs)}" if kwargs else ""
        ui.error(f"cannot make {args.env_id!r}{shown}: {error}")
        return EXIT_USAGE
    try:
        with _keyboard_interrupt_on_sigint():
            asyncio.run(play_episode(env, ui.out, seed=args.seed))
    except AgentGymError as error:  # the environment broke its contract mid-episode
        ui.error(f"{type(error).__name__}: {error}")
        return EXIT_FAILURE
    return EXIT_OK


async def play_episode(
    env: Env,
    console: Console,
    *,
    seed: int | None = None,
    read_action: Callable[[str], str] = input,
) -> EpisodeSummary:
    """Play one episode of `env` with a person at `console`, reading actions with `read_action`
    (blocking, which is fine: this episode is the only thing on the event loop). Closes `env`."""
    summary = EpisodeSummary()
    async with env:
        observation = await env.reset(seed=seed)
        env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        limit = env.spec.max_turns if env.spec is not None else None
        seed_note = f", seed {seed}" if seed is not None else ""
        limit_note = f", at most {limit} turns" if limit is not None else ""
        console.print(
            Text(f"Playing {env_id}{seed_note}{limit_note}. Type {QUIT_COMMAND} or press Ctrl-D to stop.", style="dim")
        )
        if env.system_prompt:
            console.print(Panel(Text(env.system_prompt), title="rules", title_align="left", border_style="dim"))
        console.print(_observation_panel(observation, "start"))
        while True:
            try:
                action = read_action(PROMPT)
            except EOFError:
                action = QUIT_COMMAND
                console.print()
            if action.strip() == QUIT_COMMAND:
                summary.quit_early = True
                console.print(Text(f"You ended the episode early after {summary.turns} turns.", style="yellow"))
                break
            result = await env.step(action)
            summary.turns += 1
            summary.total_reward += result.reward
            summary.terminated, summary.truncated = result.terminated, result.truncated
            console.print(_observation_panel(result.observation, f"turn {summary.turns}"))
            console.print(_step_line(result, summary))
            if result.done:
                break
    console.print(_summary_panel(summary))
    return summary


def _observation_panel(observation: Observation, title: str) -> Panel:
    parts: list[Any] = [Text(observation.text)]
    if observation.images:
        count = len(observation.images)
        parts.append(
            Text(f"[{count} image{'s' if count != 1 else ''} attached, not shown in the terminal]", style="italic")
        )
    if observation.tools:
        parts.append(Text("tools available:", style="bold"))
        for tool in observation.tools:
            description = f": {tool.function.description}" if tool.function.description else ""
            parts.append(Text(f"  - {tool.function.name}{description}"))
    return Panel(Group(*parts), title=title, title_align="left", border_style="blue")


def _step_line(result: StepResult, summary: EpisodeSummary) -> Text:
    reward = _number(result.reward)
    line = Text()
    line.append(f"reward {'+' if result.reward > 0 else ''}{reward}", style="bold")
    line.append(f" | return {_number(summary.total_reward)} | ")
    line.append(f"invalid action: {_yes_no(result.invalid_action)}", style="bold red" if result.invalid_action else "")
    line.append(f" | terminated: {_yes_no(result.terminated)} | truncated: {_yes_no(result.truncated)}")
    return line


def _summary_panel(summary: EpisodeSummary) -> Panel:
    if summary.terminated:
        how, style = "terminated: the task reached its end", "green"
    elif summary.truncated:
        how, style = "truncated: the time limit cut the episode", "yellow"
    else:
        how, style = "ended early by you", "yellow"
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("turns", str(summary.turns))
    grid.add_row("return", _number(summary.total_reward))
    grid.add_row("terminated", _yes_no(summary.terminated))
    grid.add_row("truncated", _yes_no(summary.truncated))
    grid.add_row("outcome", Text(how, style=style))
    return Panel(grid, title="episode summary", title_align="left", border_style=style, expand=False)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def _keyboard_interrupt_on_sigint() -> Iterator[None]:
    """Make Ctrl-C raise KeyboardInterrupt right where it lands, also inside `asyncio.run`.

    asyncio.run replaces Python's default SIGINT handler with one that only cancels the main
    task at its next await; a coroutine blocked in `input()` would then ignore Ctrl-C until
    the person pressed Enter. asyncio.run keeps any handler that is not the default, so this
    installs an equivalent of the default for the duration.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield
        return
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- serve ----------------------------------------------------------------------------------


def _add_serve_parser(subparsers: argparse._SubParsersAction) -> None:
    defaults = ServerLimits()
    parser = subparsers.add_parser(
        "serve",
        help="run environments as a standalone HTTP/WebSocket service",
        description="Serve sessions of the listed environments over HTTP (JSON, /v1/...) and a "
        "multiplexed WebSocket (/v1/ws) until SIGTERM or Ctrl-C, then shut down gracefully. "
        "Prints the URL on stdout once listening; logs go to stderr. See docs/serving.md.",
        epilog="examples:\n  agentgym serve guess-number-v0 --port 8000\n  agentgym serve --all --max-sessions 1024\n"
        "  agentgym serve mypkg/my-env-v0 --import mypkg.envs\n  curl localhost:8000/v1/envs",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="environment ids to serve")
    parser.add_argument("--all", action="store_true", help="serve every registered environment")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind, 0 for a free one (default: %(default)s)")
    parser.add_argument(
        "--max-sessions",
        type=_positive_int,
        default=defaults.max_sessions,
        help="open sessions at most; 503 beyond (default: %(default)s)",
    )
    parser.add_argument(
        "--session-ttl",
        type=float,
        default=defaults.session_ttl_s,
        metavar="S",
        help="close sessions idle this many seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--step-timeout",
        type=float,
        default=defaults.step_timeout_s,
        metavar="S",
        help="fail a session whose reset/step takes longer (default: %(default)s)",
    )
    parser.add_argument(
        "--max-action-bytes",
        type=_positive_int,
        default=defaults.max_action_bytes,
        metavar="B",
        help="largest action accepted; 413 beyond (default: %(default)s)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="how long a graceful shutdown waits for operations in flight (default: %(default)s)",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it registers environments); repeatable",
    )
    parser.add_argument(
        "--log-format", choices=["json", "text"], default="json", help="stderr log format (default: %(default)s)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    parser.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, ui: UI) -> int:
    for module in args.imports:
        importlib.import_module(module)
    env_ids = [spec.id for spec in agentgym.list_envs()] if args.all else args.ids
    if not env_ids:
        ui.error("name at least one environment id to serve, or --all")
        return EXIT_USAGE
    try:
        for env_id in env_ids:
            agentgym.spec(env_id)
        limits = ServerLimits(
            max_sessions=args.max_sessions,
            session_ttl_s=args.session_ttl,
            step_timeout_s=args.step_timeout,
            max_action_bytes=args.max_action_bytes,
        )
    except (UnknownEnvironment, ValueError) as error:
        ui.error(str(error))
        return EXIT_USAGE

    def announce(url: str) -> None:
        print(
            f"agentgym serve: {', '.join(env_ids)} on {url} (WebSocket {url.replace('http', 'ws', 1)}/v1/ws)",
            flush=True,
        )

    serve(
        env_ids,
        log_format=args.log_format,
        host=args.host,
        port=args.port,
        limits=limits,
        shutdown_timeout_s=args.shutdown_timeout,
        access_log=args.access_log,
        on_ready=announce,
    )
    return EXIT_OK


# --- demo -----------------------------------------------------------------------------------


def _add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the main job on embedded defaults: train a tiny policy on served Sokoban (CPU, ~5 min)",
        description="Build a tiny chat model offline, serve sokoban-easy-v0 with `agentgym serve` in a "
        "separate process, warm the model up on a little expert play, train it with GiGPO and "
        "print how the success rate moved. Writes curve.png, trajectories.jsonl, metrics.jsonl, "
        "tensorboard/, checkpoints/ and model/ into --output-dir.",
        epilog="examples:\n  agentgym demo\n  agentgym demo --output-dir runs/demo --steps 10",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--output-dir",
        default="runs/demo",
        help="where to write the run; a previous run there is replaced (default: %(default)s)",
    )
    parser.add_argument("--steps", type=_positive_int, default=None, help="training steps (default: the demo's 30)")
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, ui: UI) -> int:
    from agentgym.demo import run_demo  # the application layer: it uses a shipped environment

    try:
        _quiet_transformers()
        return asyncio.run(run_demo(Path(args.output_dir), ui.out, steps=args.steps))
    except ImportError as error:
        ui.error(f"{error}: the demo trains a model; pip install 'agentgym[train]'")
        return EXIT_USAGE
    except (ValueError, TypeError, RuntimeError, OSError) as error:
        ui.error(f"the demo stopped: {error}")
        return EXIT_FAILURE


# --- train ----------------------------------------------------------------------------------


def _add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a policy with GRPO, GiGPO, IGPO or ArCHer from a YAML config",
        description="Run the training loop a YAML config describes (see examples/train/): rollouts "
        "against local or served environments, advantages by the chosen algorithm, PPO-clip "
        "updates, weight sync to the rollout policy, metrics to metrics.jsonl and TensorBoard, "
        "checkpoints, and curve.png at the end.",
        epilog="examples:\n  agentgym train examples/train/sokoban_gigpo.yaml\n"
        "  agentgym train examples/train/sokoban_gigpo.yaml --resume\n"
        "  agentgym train examples/train/sokoban_grpo.yaml --set optim.steps=5 --set output_dir=runs/try",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("config", help="the YAML config file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    mode.add_argument("--overwrite", action="store_true", help="replace a previous run's outputs in output_dir")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=parse_override,
        metavar="KEY=VALUE",
        help="override a config key (dotted, e.g. optim.steps=5); repeatable",
    )
    parser.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace, ui: UI) -> int:
    from agentgym.trainers.config import ConfigError, NoCheckpoint, OutputDirInUse, load_config

    try:
        config = load_config(args.config, dict(args.overrides))
        if not config.env.url:
            agentgym.spec(config.env.id)
    except (ConfigError, UnknownEnvironment) as error:
        ui.error(str(error))
        return EXIT_USAGE
    try:
        _quiet_transformers()
        from agentgym.trainers.launch import train

        result = asyncio.run(train(config, resume=args.resume, overwrite=args.overwrite, console=ui.err))
    except (NoCheckpoint, OutputDirInUse) as error:
        ui.error(str(error))
        return EXIT_USAGE
    except ImportError as error:
        ui.error(f"{error}: training needs the train extra; pip install 'agentgym[train]'")
        return EXIT_USAGE
    except (ValueError, TypeError, RuntimeError, OSError) as error:  # a broken environment, expert, device, ...
        ui.error(f"training stopped: {error}")
        return EXIT_FAILURE
    last = result.rows[-1] if result.rows else {}
    ui.out.print(
        f"trained {config.algorithm} for {last.get('step', 0)} steps: success {last.get('rollout/success', float('nan')):.2f}, "
        f"return {last.get('rollout/return', float('nan')):.2f}; curve {result.curve}, model {result.model_dir}"
    )
    return EXIT_OK


def _quiet_transformers() -> None:
    """No per-file progress bars from transformers while our own progress display runs."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


# --- eval, rollout, serve-policy -----------------------------------------------------------


def _add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, metavar="SPEC", help="hf:PATH_OR_NAME, openai:URL or vllm:MODEL")
    parser.add_argument("--model", help="for openai:URL: the model name the server serves")
    parser.add_argument("--tokenizer", help="tokenizer name or path (default: the model's)")


def _add_rollout_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", required=True, metavar="ID_OR_URL", help="a registered id, or ws://host:port/ID for a served one"
    )
    _add_policy_arguments(parser)
    parser.add_argument(
        "--concurrency", type=_positive_int, default=16, help="episodes in flight (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the first task's seed; task i uses seed + i (default: %(default)s)"
    )
    parser.add_argument(
        "--max-turns", type=_positive_int, default=None, metavar="N", help="policy turns per episode at most"
    )
    parser.add_argument(
        "--max-tokens",
        type=_positive_int,
        default=256,
        metavar="N",
        help="tokens per response at most (default: %(default)s)",
    )
    parser.add_argument(
        "--max-context",
        type=_positive_int,
        default=None,
        metavar="N",
        help="prompt + response tokens at most; beyond it the episode ends truncated (context_overflow)",
    )
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="sampling temperature, 0 for greedy (default: %(default)s)"
    )
    parser.add_argument(
        "--history",
        type=_non_negative_int,
        default=None,
        metavar="K",
        help="show only the last K turns in each prompt (default: all)",
    )


def _run_rollout_command(args: argparse.Namespace, ui: UI, *, tasks: int, group_size: int) -> int:
    from agentgym.policies.base import SamplingParams
    from agentgym.registration import is_env_url
    from agentgym.rollout.episode import EpisodeLimits
    from agentgym.rollout.run import env_source, load_policy, run_rollout, save, summary_rows

    try:
        env_id, _ = env_source(args.env)
        if not is_env_url(args.env):
            agentgym.spec(env_id)  # an unknown id fails here, before the model loads
        limits = EpisodeLimits(
            max_turns=args.max_turns, max_response_tokens=args.max_tokens, max_context_tokens=args.max_context
        )
        sampling = SamplingParams(temperature=args.temperature)
        policy = load_policy(args.policy, model=args.model, tokenizer=args.tokenizer)
    except (AgentGymError, ValueError, OSError, ImportError) as error:
        ui.error(str(error))
        return EXIT_USAGE
    summary = asyncio.run(
        run_rollout(
            args.env,
            policy,
            tasks=tasks,
            group_size=group_size,
            concurrency=args.concurrency,
            seed=args.seed,
            limits=limits,
            sampling=sampling,
            history=args.history,
            console=ui.err,
        )
    )
    table = Table(title=f"{args.env} with {args.policy}", box=box.SIMPLE)
    table.add_column("")
    table.add_column("", justify="right")
    for label, value in summary_rows(summary):
        table.add_row(label, str(value))
    ui.out.print(table)
    if args.out:
        ui.out.print(f"trajectories written to {save(summary, args.out)}")
    if not summary.completed:
        ui.error("no episode completed: every one failed (see the failure kinds above)")
        return EXIT_FAILURE
    return EXIT_OK


def _add_eval_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a policy on an environment: success rate, mean reward and turns",
        description="Play --episodes episodes (seeds --seed, --seed+1, ...) of an environment with a "
        "policy, --concurrency at a time, and print the success rate, mean reward and mean turns "
        "over completed episodes; environment faults are counted apart, never scored.",
        epilog="examples:\n  agentgym eval --env sokoban-v0 --policy hf:Qwen/Qwen2.5-0.5B-Instruct --episodes 64\n"
        "  agentgym eval --env ws://127.0.0.1:8000/wordle-v0 --policy openai:http://127.0.0.1:8001 --model qwen --episodes 100",
        formatter_class=_HelpFormatter,
    )
    _add_rollout_arguments(parser)
    parser.add_argument("--episodes", type=_positive_int, default=32, help="episodes to play (default: %(default)s)")
    parser.add_argument("--out", help="also save the trajectories (.parquet, or .jsonl)")
    parser.set_defaults(handler=cmd_eval)


def cmd_eval(args: argparse.Namespace, ui: UI) -> int:
    return _run_rollout_command(args, ui, tasks=args.episodes, group_size=1)


def _add_rollout_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help="play groups of episodes with a policy and write the trajectories",
        description="Play --tasks tasks, --group-size episodes each (a GRPO/GiGPO group shares its "
        "seed), and write every trajectory with its exact token ids and log-probabilities: "
        "Parquet, one row per turn (loadable with datasets), or JSON Lines for reading.",
        epilog="examples:\n  agentgym rollout --env sokoban-v0 --policy hf:./my-model --tasks 16 --group-size 8 --out runs/sokoban.parquet",
        formatter_class=_HelpFormatter,
    )
    _add_rollout_arguments(parser)
    parser.add_argument("--tasks", type=_positive_int, default=8, help="tasks (seeds) to play (default: %(default)s)")
    parser.add_argument("--group-size", type=_positive_int, default=8, help="episodes per task (default: %(default)s)")
    parser.add_argument("--out", required=True, help="where to write the trajectories (.parquet, or .jsonl)")
    parser.set_defaults(handler=cmd_rollout)


def cmd_rollout(args: argparse.Namespace, ui: UI) -> int:
    return _run_rollout_command(args, ui, tasks=args.tasks, group_size=args.group_size)


def _add_serve_policy_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve-policy",
        help="serve a policy through an OpenAI-compatible /v1/completions endpoint",
        description="Serve a policy (e.g. a Hugging Face model on this machine's CPU or GPU) at "
        "/v1/completions with token ids and log-probabilities, so rollout workers elsewhere can "
        "use it with --policy openai:URL.",
        epilog="examples:\n  agentgym serve-policy --policy hf:./my-model --port 8001 --model-name my-model",
        formatter_class=_HelpFormatter,
    )
    _add_policy_arguments(parser)
    parser.add_argument(
        "--model-name", default="default", help="the name clients use in requests (default: %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8001, help="port to bind (default: %(default)s)")
    parser.set_defaults(handler=cmd_serve_policy)


def cmd_serve_policy(args: argparse.Namespace, ui: UI) -> int:
    from aiohttp import web

    from agentgym.policies.openai_server import create_completions_app
    from agentgym.rollout.run import load_policy

    try:
        policy = load_policy(args.policy, model=args.model, tokenizer=args.tokenizer)
    except (ValueError, OSError, ImportError) as error:
        ui.error(str(error))
        return EXIT_USAGE
    web.run_app(
        create_completions_app(policy, args.model_name),
        host=args.host,
        port=args.port,
        print=lambda _: print(
            f"agentgym serve-policy: {args.model_name} on http://{args.host}:{args.port}/v1", flush=True
        ),
    )
    return EXIT_OK


# --- sandbox --------------------------------------------------------------------------------

SANDBOX_BACKEND_CHOICES = ("best", "bwrap", "gvisor", "docker", "local")


def _add_sandbox_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="the code-execution sandbox: serve it over HTTP, list the backends that run here",
        description="Commands of the code-execution sandbox (agentgym.sandboxes); see docs/sandboxes.md.",
        epilog="examples:\n  agentgym sandbox backends\n  agentgym sandbox serve --port 8080",
        formatter_class=_HelpFormatter,
    )
    parser.set_defaults(handler=lambda args, ui: _missing_subcommand(parser))
    commands = parser.add_subparsers(dest="sandbox_command", metavar="COMMAND", title="commands")

    serve_parser = commands.add_parser(
        "serve",
        help="run programs sent over HTTP in sandboxes (our API and SandboxFusion's /run_code)",
        description="Serve code execution over HTTP until SIGTERM or Ctrl-C: POST /run, sessions under "
        "/sessions, SandboxFusion's POST /run_code, GET /health. Prints the URL on stdout once "
        "listening; logs go to stderr.",
        epilog="examples:\n  agentgym sandbox serve --port 8080\n  agentgym sandbox serve --backend bwrap --max-concurrency 16\n"
        '  curl -s localhost:8080/run -d \'{"code": "print(1 + 1)"}\'',
        formatter_class=_HelpFormatter,
    )
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s; 0.0.0.0 for all)"
    )
    serve_parser.add_argument(
        "--port", type=_non_negative_int, default=8080, help="port to bind, 0 for a free one (default: %(default)s)"
    )
    serve_parser.add_argument(
        "--backend",
        choices=SANDBOX_BACKEND_CHOICES,
        default="best",
        help="the sandbox backend; best: the strongest isolation that runs here (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--allow-unsafe",
        action="store_true",
        help="allow --backend local, which runs code as this user with NO isolation",
    )
    serve_parser.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="programs running at once; the rest wait (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--max-sessions",
        type=_positive_int,
        default=256,
        metavar="N",
        help="open sessions at most; 503 beyond (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--session-idle-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="close sessions idle this many seconds (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--max-request-bytes",
        type=_int_at_least(1024, "an integer >= 1024"),
        default=64 << 20,
        metavar="B",
        help="largest request body accepted; 413 beyond (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--allow-network", action="store_true", help="let requests ask for network access (refused with 403 by default)"
    )
    serve_parser.add_argument(
        "--max-wall-s",
        type=float,
        default=300.0,
        metavar="S",
        help="most wall-clock (and CPU) seconds a request may ask for (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--max-memory-mb",
        type=_positive_int,
        default=4096,
        metavar="MB",
        help="most memory a request may ask for (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="how long a shutdown waits for programs in flight before killing them (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--log-format", choices=["json", "text"], default="json", help="stderr log format (default: %(default)s)"
    )
    serve_parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    serve_parser.set_defaults(handler=cmd_sandbox_serve)

    backends_parser = commands.add_parser(
        "backends",
        help="list the sandbox backends and whether each runs on this machine",
        description="List every sandbox backend, strongest isolation first, and whether it runs here (and why not).",
        epilog="examples:\n  agentgym sandbox backends\n  agentgym sandbox backends --json",
        formatter_class=_HelpFormatter,
    )
    backends_parser.add_argument(
        "--json", action="store_true", help="print {name: null or the reason it cannot run} as JSON"
    )
    backends_parser.set_defaults(handler=cmd_sandbox_backends)


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def cmd_sandbox_backends(args: argparse.Namespace, ui: UI) -> int:
    from agentgym.sandboxes import available_backends

    reasons = available_backends()
    if args.json:
        _print_json(reasons)
        return EXIT_OK
    table = Table(title="Sandbox backends (strongest isolation first)", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("backend", style="bold cyan", no_wrap=True)
    table.add_column("runs here", no_wrap=True)
    table.add_column("why not / note")
    for name, reason in reasons.items():
        note = "no isolation: only with --allow-unsafe" if name == "local" and reason is None else (reason or "")
        table.add_row(name, Text("yes", style="green") if reason is None else Text("no", style="red"), Text(note))
    ui.out.print(table)
    return EXIT_OK


def cmd_sandbox_serve(args: argparse.Namespace, ui: UI) -> int:
    from agentgym.sandboxes import Limits, SandboxError, make_sandbox
    from agentgym.sandboxes.service import ServiceConfig, serve_until_stopped
    from agentgym.server.logs import configure_logging

    if args.session_idle_timeout <= 0 or args.shutdown_timeout < 0:
        ui.error("--session-idle-timeout must be positive and --shutdown-timeout not negative")
        return EXIT_USAGE
    try:
        kwargs = {"allow_unsafe": args.allow_unsafe} if args.backend == "local" else {}
        sandbox = make_sandbox(args.backend, **kwargs)
    except (SandboxError, ImportError) as error:
        ui.error(f"cannot start the {args.backend} sandbox backend: {error}")
        return EXIT_USAGE if args.backend == "local" else EXIT_FAILURE
    config = ServiceConfig(
        max_concurrency=args.max_concurrency,
        max_sessions=args.max_sessions,
        session_idle_timeout_s=args.session_idle_timeout,
        max_request_bytes=args.max_request_bytes,
        allow_network=args.allow_network,
        max_limits=Limits(
            wall_s=args.max_wall_s,
            cpu_s=args.max_wall_s,
            memory_mb=args.max_memory_mb,
            max_procs=512,
            max_output_bytes=64 << 20,
            max_file_bytes=1 << 30,
        ),
        shutdown_timeout_s=args.shutdown_timeout,
    )

    def announce(url: str) -> None:
        print(f"agentgym sandbox serve: {sandbox.name} backend on {url} (SandboxFusion: {url}/run_code)", flush=True)

    configure_logging(args.log_format)
    asyncio.run(
        serve_until_stopped(
            sandbox, config, host=args.host, port=args.port, access_log=args.access_log, on_ready=announce
        )
    )
    return EXIT_OK


# --- search ---------------------------------------------------------------------------------


def _add_search_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="the corpus's world seed (default: %(default)s)")
    parser.add_argument(
        "--num-documents",
        type=_positive_int,
        default=10_000,
        metavar="N",
        help="documents in the corpus (default: %(default)s)",
    )
    parser.add_argument(
        "--retriever", choices=["bm25", "dense"], default="bm25", help="the retriever (default: %(default)s)"
    )
    parser.add_argument(
        "--model",
        default=None,
        metavar="NAME",
        help="--retriever dense: a sentence-transformers model, a local path or a name already in the local cache",
    )


def _add_search_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="the search environment's retriever: serve it over HTTP (Search-R1's /retrieve), query it",
        description="Commands of the search environment's retrieval (agentgym.environments.search).",
        epilog="examples:\n  agentgym search serve --port 8000\n  agentgym search query 'who founded Esory Holdings'",
        formatter_class=_HelpFormatter,
    )
    parser.set_defaults(handler=lambda args, ui: _missing_subcommand(parser))
    commands = parser.add_subparsers(dest="search_command", metavar="COMMAND", title="commands")

    serve_parser = commands.add_parser(
        "serve",
        help="serve retrieval over the generated corpus (Search-R1-compatible POST /retrieve)",
        description="Serve retrieval over HTTP until SIGTERM or Ctrl-C: POST /retrieve (Search-R1's request "
        "and response), GET /health. Builds or loads the cached index first, then prints the URL on stdout; "
        "logs go to stderr.",
        epilog="examples:\n  agentgym search serve\n  agentgym search serve --num-documents 100000 --port 8001\n"
        '  curl -s localhost:8000/retrieve -d \'{"queries": ["Esory Holdings"], "topk": 3, '
        '"return_scores": true}\'',
        formatter_class=_HelpFormatter,
    )
    _add_search_corpus_arguments(serve_parser)
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s; 0.0.0.0 for all)"
    )
    serve_parser.add_argument(
        "--port", type=_non_negative_int, default=8000, help="port to bind, 0 for a free one (default: %(default)s)"
    )
    serve_parser.add_argument(
        "--topk", type=_positive_int, default=3, metavar="K", help="hits when a request gives no topk (default: 3)"
    )
    serve_parser.add_argument(
        "--max-topk", type=_positive_int, default=100, metavar="K", help="largest topk a request may ask (default: 100)"
    )
    serve_parser.add_argument(
        "--max-queries", type=_positive_int, default=512, metavar="N", help="most queries per request (default: 512)"
    )
    serve_parser.add_argument(
        "--threads", type=_positive_int, default=2, metavar="N", help="threads running searches (default: 2)"
    )
    serve_parser.add_argument(
        "--log-format", choices=["json", "text"], default="json", help="stderr log format (default: %(default)s)"
    )
    serve_parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    serve_parser.set_defaults(handler=cmd_search_serve)

    query_parser = commands.add_parser(
        "query",
        help="search the corpus (or a running service) and print the hits",
        description="Search the generated corpus with the local retriever, or a running service with --url, "
        "and print each hit's score, id, title and text.",
        epilog="examples:\n  agentgym search query 'Esory Holdings founder'\n"
        "  agentgym search query 'capital of Graradia' --topk 5 --json\n"
        "  agentgym search query 'Esory Holdings' --url http://127.0.0.1:8000",
        formatter_class=_HelpFormatter,
    )
    query_parser.add_argument("query", metavar="TEXT", help="the query")
    query_parser.add_argument("--topk", type=_positive_int, default=3, metavar="K", help="hits (default: 3)")
    query_parser.add_argument("--url", default=None, help="ask this retrieval service instead of searching here")
    query_parser.add_argument("--json", action="store_true", help="print the hits as JSON")
    _add_search_corpus_arguments(query_parser)
    query_parser.set_defaults(handler=cmd_search_query)


def _search_retriever(args: argparse.Namespace, ui: UI) -> tuple[Any, int] | None:
    """The local retriever the flags ask for and the corpus size, or None (after an error message)."""
    from agentgym.environments.search.corpus import load_corpus
    from agentgym.environments.search.retrieval import RetrieverUnavailable, make_retriever

    if args.retriever == "dense" and not args.model:
        ui.error("--retriever dense needs --model (a local path or a model already in the local cache)")
        return None
    corpus = load_corpus(seed=args.seed, num_documents=args.num_documents)
    try:
        return make_retriever(corpus, args.retriever, model=args.model), len(corpus.documents)
    except RetrieverUnavailable as error:
        ui.error(str(error))
        return None


def cmd_search_serve(args: argparse.Namespace, ui: UI) -> int:
    from agentgym.environments.search.service import ServiceConfig, serve_until_stopped
    from agentgym.server.logs import configure_logging

    if args.topk > args.max_topk:
        ui.error("--topk must not be above --max-topk")
        return EXIT_USAGE
    configure_logging(args.log_format)
    made = _search_retriever(args, ui)
    if made is None:
        return EXIT_USAGE
    retriever, num_documents = made
    config = ServiceConfig(
        default_topk=args.topk, max_topk=args.max_topk, max_queries=args.max_queries, search_threads=args.threads
    )

    def announce(url: str) -> None:
        print(
            f"agentgym search serve: {retriever.name} over {num_documents} documents on {url} (POST {url}/retrieve)",
            flush=True,
        )

    asyncio.run(
        serve_until_stopped(
            retriever,
            num_documents,
            config,
            host=args.host,
            port=args.port,
            access_log=args.access_log,
            on_ready=announce,
        )
    )
    return EXIT_OK


def cmd_search_query(args: argparse.Namespace, ui: UI) -> int:
    if args.url:
        from agentgym.environments.search.service import RemoteRetriever, RemoteRetrieverError

        try:
            hits = RemoteRetriever(args.url).search([args.query], args.topk)[0]
        except RemoteRetrieverError as error:
            ui.error(str(error))
            return EXIT_FAILURE
    else:
        made = _search_retriever(args, ui)
        if made is None:
            return EXIT_USAGE
        hits = made[0].search([args.query], args.topk)[0]
    if args.json:
        _print_json(
            [{"id": h.document.id, "title": h.document.title, "text": h.document.text, "score": h.score} for h in hits]
        )
        return EXIT_OK
    if not hits:
        ui.out.print("No hits.")
        return EXIT_OK
    table = Table(title=f"Hits for {args.query!r}", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("title", style="bold")
    table.add_column("text")
    for hit in hits:
        table.add_row(f"{hit.score:.3f}", Text(hit.document.id), Text(hit.document.title), Text(hit.document.text))
    ui.out.print(table)
    return EXIT_OK


# --- version --------------------------------------------------------------------------------


def _add_version_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "version",
        help="print the installed agentgym version",
        description="Print the installed agentgym version (the same as `agentgym --version`).",
        epilog="examples:\n  agentgym version\n  agentgym --version",
        formatter_class=_HelpFormatter,
    )
    parser.set_defaults(handler=cmd_version)


def cmd_version(args: argparse.Namespace, ui: UI) -> int:
    print(_version_string())
    return EXIT_OK


def _version_string() -> str:
    return f"agentgym {agentgym.__version__}"


# --- the parser and main --------------------------------------------------------------------

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_list_parser,
    _add_info_parser,
    _add_play_parser,
    _add_serve_parser,
    _add_eval_parser,
    _add_rollout_parser,
    _add_serve_policy_parser,
    _add_train_parser,
    _add_demo_parser,
    _add_sandbox_parser,
    _add_search_parser,
    _add_version_parser,
]
"""The subcommands, in the order `agentgym --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentgym",
        description="agentgym: multi-turn RL environments for LLM agents.",
        epilog="examples:\n"
        "  agentgym list\n"
        "  agentgym info guess-number-v0\n"
        "  agentgym play guess-number-v0 --seed 3\n"
        "  agentgym serve guess-number-v0 --port 8000\n"
        "  agentgym train examples/train/sokoban_gigpo.yaml\n"
        "  agentgym demo\n\n"
        "Run `agentgym COMMAND --help` for a command's options.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version_string())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for add_parser in COMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` (default: `sys.argv[1:]`) and return the exit status.

    With no command it prints the help to stderr and returns 2, like any other usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors; keep main() returning
        return exit_.code if isinstance(exit_.code, int) else (EXIT_OK if exit_.code is None else EXIT_USAGE)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    ui = UI(out=Console(), err=Console(stderr=True))
    handler: Handler = args.handler
    try:
        return handler(args, ui)
    except KeyboardInterrupt:
        ui.err.print()
        ui.err.print(Text("Interrupted.", style="yellow"))
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
