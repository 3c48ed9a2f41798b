"""Entry-point discovery (group `agentgym.environments`): an installed third-party package's
environments appear in the registry, and a plugin that fails is logged and skipped."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from support import run_command, run_python

ECHO_MODULE = '''
import agentgym
from agentgym import Env, Observation, StepResult


class EchoEnv(Env):
    async def reset(self, *, seed=None, options=None):
        await super().reset(seed=seed)
        return Observation(text="say something")

    async def step(self, action):
        return StepResult(observation=Observation(text=f"echo: {action}"), reward=1.0, terminated=True)


def register_envs():
    agentgym.register("tinypkg/echo-v0", "tinypkg:EchoEnv", description="echoes the action")
'''

BROKEN_MODULE = '''
def register_envs():
    raise RuntimeError("brokenpkg cannot register today")
'''


def install_plugin(root: Path, name: str, module_source: str) -> Path:
    """Write a one-module package `name` whose `agentgym.environments` entry point is
    `name:register_envs`, pip-install it into its own target folder and return that folder."""
    source = root / f"{name}-src"
    source.mkdir()
    (source / f"{name}.py").write_text(module_source)
    (source / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=70"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "0.1.0"

            [tool.setuptools]
            py-modules = ["{name}"]

            [project.entry-points."agentgym.environments"]
            {name} = "{name}:register_envs"
            """
        )
    )
    site = root / f"{name}-site"
    run_command(
        sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
        "--target", site, source, cwd=root,
    )
    return site


@pytest.fixture(scope="module")
def plugin_sites(tmp_path_factory) -> dict[str, Path]:
    """Install folders of a working plugin (tinypkg) and a broken one (brokenpkg)."""
    root = tmp_path_factory.mktemp("plugins")
    return {"tinypkg": install_plugin(root, "tinypkg", ECHO_MODULE), "brokenpkg": install_plugin(root, "brokenpkg", BROKEN_MODULE)}


PROBE = '''
import asyncio, json, logging
import agentgym

records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append({"logger": record.name, "level": record.levelname, "message": record.getMessage(),
                        "error": repr(record.exc_info[1]) if record.exc_info else None})
logging.getLogger("agentgym").addHandler(Keep())

async def main():
    env = agentgym.make("tinypkg/echo-v0")
    first = await env.reset()
    result = await env.step("hello")
    return {"first": first.text, "text": result.observation.text, "reward": result.reward,
            "terminated": result.terminated, "description": env.spec.description}

outcome = asyncio.run(main())
outcome["ids"] = [env_spec.id for env_spec in agentgym.list_envs()]
outcome["logs"] = records
print(json.dumps(outcome))
'''


def run_probe(sites: list[Path], cwd: Path) -> dict:
    return json.loads(run_python(PROBE, pythonpath=sites, cwd=cwd).stdout)


def test_an_installed_plugin_registers_its_environments(plugin_sites, tmp_path):
    outcome = run_probe([plugin_sites["tinypkg"]], tmp_path)
    assert outcome["first"] == "say something"
    assert outcome["text"] == "echo: hello" and outcome["reward"] == 1.0 and outcome["terminated"]
    assert outcome["description"] == "echoes the action"
    assert {"guess-number-v0", "tinypkg/echo-v0"} <= set(outcome["ids"])
    assert outcome["logs"] == []


def test_without_the_plugin_its_ids_are_unknown(tmp_path):
    code = "import json, agentgym; print(json.dumps([s.id for s in agentgym.list_envs()]))"
    ids = json.loads(run_python(code, cwd=tmp_path).stdout)
    assert "guess-number-v0" in ids and "tinypkg/echo-v0" not in ids


def test_a_broken_plugin_is_logged_and_skipped(plugin_sites, tmp_path):
    outcome = run_probe([plugin_sites["brokenpkg"], plugin_sites["tinypkg"]], tmp_path)
    assert {"guess-number-v0", "tinypkg/echo-v0"} <= set(outcome["ids"])
    assert outcome["text"] == "echo: hello"
    (record,) = outcome["logs"]
    assert record["logger"] == "agentgym.registration" and record["level"] == "ERROR"
    assert "'brokenpkg'" in record["message"] and "brokenpkg:register_envs" in record["message"]
    assert record["error"] == "RuntimeError('brokenpkg cannot register today')"
