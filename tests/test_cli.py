"""The `agentgym` command line, run for real: as a subprocess, in-process through `main()`, and
`play` through a pseudo-terminal (pexpect) the way a person would use it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

import agentgym
from agentgym.cli import main, parse_kwarg

try:
    import pexpect
except ImportError:  # the dev extra installs it; without it only the pty tests are skipped
    pexpect = None

needs_pty = pytest.mark.skipif(
    pexpect is None or sys.platform == "win32", reason="needs pexpect and a POSIX pseudo-terminal"
)

ENV_ID = "guess-number-v0"
PTY_TIMEOUT = 5  # seconds per expect; every pty test finishes well under 10 s


def _cli_command() -> list[str]:
    """The installed console script of this interpreter, else `python -m agentgym.cli`."""
    script = shutil.which("agentgym", path=sysconfig.get_path("scripts"))
    return [script] if script else [sys.executable, "-m", "agentgym.cli"]


def _plain_env() -> dict[str, str]:
    """An environment in which rich prints no escape codes and wraps at a known width."""
    return {**os.environ, "TERM": "dumb", "NO_COLOR": "1", "COLUMNS": "120", "LINES": "40"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_cli_command(), *args], capture_output=True, text=True, env=_plain_env(), timeout=30
    )


def spawn_play(*args: str) -> pexpect.spawn:
    command = _cli_command()
    child = pexpect.spawn(
        command[0],
        [*command[1:], "play", *args],
        env=_plain_env(),
        encoding="utf-8",
        timeout=PTY_TIMEOUT,
        dimensions=(40, 120),
    )
    child.expect_exact("action> ")
    return child


def finish(child: pexpect.spawn) -> tuple[str, int | None]:
    """Everything the child prints until it exits, and its exit status."""
    child.expect(pexpect.EOF)
    rest = child.before
    child.close()
    return rest, child.exitstatus


def secret_for(seed: int) -> int:
    """The secret `reset(seed=seed)` picks, read from the environment itself."""

    async def pick() -> int:
        env = agentgym.make(ENV_ID)
        await env.reset(seed=seed)
        return env.unwrapped.secret

    return asyncio.run(pick())


# --- list / info / version -------------------------------------------------------------------


def test_list_shows_the_reference_environment_and_its_fork_capability():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if ENV_ID in line)
    assert re.search(r"\b10\b", row)  # max turns
    assert "fork" in row
    assert "Guess a secret integer" in result.stdout


def test_list_json_is_the_specs_as_json():
    result = run_cli("list", "--json")
    assert result.returncode == 0, result.stderr
    specs = json.loads(result.stdout)
    # the CLI's fresh process sees the installed environments; this process may also hold ids
    # that other suites registered, so compare each listed spec with this process's copy
    in_process = {spec.id: spec.model_dump(mode="json") for spec in agentgym.list_envs()}
    assert [spec["id"] for spec in specs] == sorted(spec["id"] for spec in specs)
    assert all(spec == in_process[spec["id"]] for spec in specs)
    entry = next(spec for spec in specs if spec["id"] == ENV_ID)
    assert entry["capabilities"]["fork"] is True
    assert entry["max_turns"] == 10


def test_info_shows_the_whole_spec():
    result = run_cli("info", ENV_ID)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert ENV_ID in out
    assert "agentgym.environments.guess_number:GuessNumberEnv" in out
    assert re.search(r"max turns\s+10", out)
    assert "fork: yes" in out and "images: no" in out and "tools: no" in out
    assert "default kwargs" in out
    assert "Guess a secret integer" in out


def test_info_json(capsys):
    assert main(["info", ENV_ID, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == agentgym.spec(ENV_ID).model_dump(mode="json")


def test_info_unknown_id_exits_2_with_suggestion_and_no_traceback():
    result = run_cli("info", "guess-numbr-v0")
    assert result.returncode == 2
    assert "guess-numbr-v0" in result.stderr
    assert f"Did you mean: {ENV_ID}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_version_command_and_flag():
    for args in (["version"], ["--version"]):
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"agentgym {agentgym.__version__}"


def test_no_command_prints_help_to_stderr_and_exits_2(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "usage: agentgym" in captured.err
    for command in ("list", "info", "play", "version"):
        assert command in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("command", [[], ["list"], ["info"], ["play"], ["version"]])
def test_every_command_has_help_with_examples(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: agentgym" in out
    assert "examples:" in out


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# --- play: argument and make errors (no terminal needed) ---------------------------------------


def test_parse_kwarg_reads_json_else_string():
    assert parse_kwarg("high=10") == ("high", 10)
    assert parse_kwarg("penalty=0.5") == ("penalty", 0.5)
    assert parse_kwarg("flag=true") == ("flag", True)
    assert parse_kwarg("nothing=null") == ("nothing", None)
    assert parse_kwarg("items=[1, 2]") == ("items", [1, 2])
    assert parse_kwarg("name=alice") == ("name", "alice")
    assert parse_kwarg("expr=a=b") == ("expr", "a=b")
    assert parse_kwarg("empty=") == ("empty", "")


@pytest.mark.parametrize("bad", ["high", "=3", "not a key=1"])
def test_malformed_kwarg_is_a_usage_error(bad, capsys):
    assert main(["play", ENV_ID, "--kwarg", bad]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["play", "guess-numbr-v0"], f"Did you mean: {ENV_ID}"),
        (["play", ENV_ID, "--kwarg", "colour=blue"], "unexpected keyword argument 'colour'"),
        (["play", ENV_ID, "--kwarg", "low=9", "--kwarg", "high=3"], "low must be below high"),
    ],
)
def test_play_make_errors_exit_2_without_traceback(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_play_max_turns_must_be_positive(capsys):
    assert main(["play", ENV_ID, "--max-turns", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err


# --- play in a pseudo-terminal ---------------------------------------------------------------

HINT = re.compile(r"(\d+) is (too low|too high|right!)")


@needs_pty
def test_play_binary_search_wins():
    child = spawn_play(ENV_ID, "--seed", "3")
    low, high, turns = 1, 100, 0
    while True:
        guess = (low + high) // 2
        child.sendline(str(guess))
        turns += 1
        child.expect(HINT)
        assert int(child.match.group(1)) == guess
        verdict = child.match.group(2)
        if verdict == "right!":
            break
        child.expect_exact("terminated: no | truncated: no")
        child.expect_exact("action> ")
        if verdict == "too low":
            low = guess + 1
        else:
            high = guess - 1
        assert turns < 10, "binary search over 1..100 needs at most 7 guesses"
    assert guess == secret_for(3)
    output, status = finish(child)
    assert status == 0
    assert "reward +1.0 | return 1.0 | invalid action: no | terminated: yes | truncated: no" in output
    assert re.search(rf"turns\s+{turns}\b", output)
    assert re.search(r"return\s+1\.0\b", output)
    assert re.search(r"terminated\s+yes", output)
    assert re.search(r"truncated\s+no", output)
    assert "Traceback" not in output


@needs_pty
def test_play_invalid_action_is_flagged_and_the_episode_goes_on():
    child = spawn_play(ENV_ID, "--seed", "3")
    child.sendline("banana")
    child.expect_exact("Invalid guess")
    child.expect_exact("reward -0.1 | return -0.1 | invalid action: yes | terminated: no | truncated: no")
    child.expect_exact("action> ")  # the episode continues
    child.sendline(str(secret_for(3)))
    child.expect_exact("is right!")
    child.expect_exact("reward +1.0 | return 0.9 | invalid action: no | terminated: yes")
    output, status = finish(child)
    assert status == 0
    assert re.search(r"turns\s+2\b", output)
    assert re.search(r"return\s+0\.9\b", output)


@needs_pty
def test_play_kwargs_reach_the_environment():
    child = spawn_play(ENV_ID, "--seed", "1", "--kwarg", "low=1", "--kwarg", "high=4")
    assert "between 1 and 4" in child.before
    child.sendline(":quit")
    _, status = finish(child)
    assert status == 0


@needs_pty
def test_play_quit_ends_the_episode_early():
    child = spawn_play(ENV_ID, "--seed", "3")
    wrong = 1 if secret_for(3) != 1 else 2
    child.sendline(str(wrong))
    child.expect_exact("action> ")
    child.sendline(":quit")
    output, status = finish(child)
    assert status == 0
    assert "ended the episode early after 1 turns" in output
    assert re.search(r"terminated\s+no", output)
    assert re.search(r"truncated\s+no", output)
    assert "ended early by you" in output


@needs_pty
def test_play_eof_ends_the_episode_early():
    child = spawn_play(ENV_ID, "--seed", "3")
    child.sendeof()
    output, status = finish(child)
    assert status == 0
    assert "ended the episode early after 0 turns" in output
    assert "Traceback" not in output


@needs_pty
def test_play_max_turns_truncates():
    secret = secret_for(3)
    wrong = [n for n in (1, 100, 2) if n != secret][:2]
    child = spawn_play(ENV_ID, "--seed", "3", "--max-turns", "2")
    assert "at most 2 turns" in child.before
    child.sendline(str(wrong[0]))
    child.expect_exact("terminated: no | truncated: no")
    child.expect_exact("action> ")
    child.sendline(str(wrong[1]))
    child.expect_exact("terminated: no | truncated: yes")
    output, status = finish(child)
    assert status == 0
    assert re.search(r"turns\s+2\b", output)
    assert re.search(r"terminated\s+no", output)
    assert re.search(r"truncated\s+yes", output)
    assert "time limit" in output
    assert "action> " not in output  # no prompt after the episode ended


@needs_pty
def test_play_ctrl_c_exits_130_without_traceback():
    child = spawn_play(ENV_ID, "--seed", "3")
    child.sendintr()
    output, status = finish(child)
    assert status == 130
    assert child.signalstatus is None
    assert "Interrupted" in output
    assert "Traceback" not in output
