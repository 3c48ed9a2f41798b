"""The built wheel: installed alone into a fresh virtual environment, it ships every module of the
source tree, each of them imports (unless it needs a missing optional extra), the mapped folders
import as `agentgym.*`, and its entry points register the bundled environments."""

from __future__ import annotations

import json
import re
import shutil
import site
import sys
from pathlib import Path

import pytest
import tomllib
from support import REPO_ROOT, run_command, run_python

pytestmark = pytest.mark.slow

PACKAGE_ROOTS = {  # import name -> folder, as setup.py maps them
    "agentgym": "agentgym",
    "agentgym.environments": "environments",
    "agentgym.sandboxes": "sandboxes",
    "agentgym.trainers": "trainers",
}


def source_modules() -> set[str]:
    """Every Python module under the mapped folders of the source tree, by import name."""
    modules = set()
    for import_name, folder in PACKAGE_ROOTS.items():
        for path in (REPO_ROOT / folder).rglob("*.py"):
            parts = path.relative_to(REPO_ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.add(".".join((import_name, *parts)))
    return modules


def optional_extra_modules() -> set[str]:
    """Top-level import names of the runtime optional extras (not `dev`) in pyproject.toml."""
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    requirements = [requirement for extra, listed in extras.items() if extra != "dev" for requirement in listed]
    return {re.match(r"[A-Za-z0-9_.-]+", requirement).group().lower().replace("-", "_") for requirement in requirements}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built without isolation from a clean copy of the repository (so no stale
    build/ folder can leak into it, and the working tree is left as it was)."""
    root = tmp_path_factory.mktemp("wheel")
    ignored = [line.strip().rstrip("/") for line in (REPO_ROOT / ".gitignore").read_text().splitlines()]
    source = root / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(".git", *filter(None, ignored)))
    run_command(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", root / "dist", source)
    (built,) = (root / "dist").glob("agentgym-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel; this interpreter's site-packages are appended to its
    path by a .pth file, so the dependencies import without a network."""
    venv = tmp_path_factory.mktemp("venv")
    run_command(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run_command(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel)
    purelib = Path(run_python("import sysconfig; print(sysconfig.get_paths()['purelib'])", python=python, cwd=venv).stdout.strip())
    host_sites = [path for path in [*site.getsitepackages(), site.getusersitepackages()] if Path(path).is_dir()]
    # .pth lines are appended after the venv's own site-packages, so the wheel's agentgym wins;
    # the host's .pth files (including the editable agentgym's import hook) are not executed.
    (purelib / "host-dependencies.pth").write_text("\n".join(host_sites) + "\n")
    return python


PROBE = '''
import importlib, importlib.metadata, json, pkgutil, sys
import agentgym

modules, failures, files = set(), {}, {}
for info in pkgutil.walk_packages(agentgym.__path__, "agentgym.", onerror=lambda name: None):
    modules.add(info.name)
modules.add("agentgym")
for name in sorted(modules):
    if name.rpartition(".")[2] == "__main__":
        continue  # importing a __main__ module runs it
    try:
        files[name] = importlib.import_module(name).__file__
    except ModuleNotFoundError as error:
        failures[name] = {"type": "ModuleNotFoundError", "missing": error.name, "message": str(error)}
    except BaseException as error:
        failures[name] = {"type": type(error).__name__, "missing": None, "message": str(error)}

dist = importlib.metadata.distribution("agentgym")
print(json.dumps({
    "prefix": sys.prefix,
    "modules": sorted(modules),
    "failures": failures,
    "files": files,
    "metadata_at": str(dist.locate_file("agentgym/__init__.py")),
    "version": agentgym.__version__,
    "entry_points": sorted(f"{ep.group} {ep.name} = {ep.value}" for ep in dist.entry_points),
    "env_ids": [env_spec.id for env_spec in agentgym.list_envs()],
    "made": repr(agentgym.make("guess-number-v0")),
}))
'''


@pytest.fixture(scope="module")
def probe(venv_python) -> dict:
    """What the venv's interpreter sees of the installed wheel (run from outside the repository)."""
    return json.loads(run_python(PROBE, python=venv_python, cwd=venv_python.parent).stdout)


def test_the_installed_wheel_is_the_one_imported(probe):
    prefix = Path(probe["prefix"])
    assert Path(probe["files"]["agentgym"]).is_relative_to(prefix)
    outside = {name: file for name, file in probe["files"].items() if not Path(file).is_relative_to(prefix)}
    assert outside == {}, "modules imported from outside the venv (the source tree leaked in)"
    assert Path(probe["metadata_at"]).is_relative_to(prefix)
    assert probe["version"] == tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_wheel_ships_every_module_of_the_source_tree(probe):
    missing = source_modules() - set(probe["modules"])
    assert missing == set(), f"modules in the source tree but not in the wheel: {sorted(missing)}"
    for name in ("agentgym.environments", "agentgym.sandboxes", "agentgym.trainers", "agentgym.environments.guess_number"):
        assert name in probe["files"], f"{name} did not import from the wheel"


def test_every_module_imports_unless_an_optional_extra_is_missing(probe):
    allowed = optional_extra_modules()
    assert {"torch", "playwright", "docker"} <= allowed  # the parse found the extras
    unexpected = {
        name: failure
        for name, failure in probe["failures"].items()
        if not (failure["type"] == "ModuleNotFoundError" and (failure["missing"] or "").split(".")[0] in allowed)
    }
    assert unexpected == {}


def test_entry_points_and_registry_work_from_the_wheel(probe):
    assert "agentgym.environments agentgym = agentgym.environments:register_environments" in probe["entry_points"]
    assert "console_scripts agentgym = agentgym.cli:main" in probe["entry_points"]
    assert "guess-number-v0" in probe["env_ids"]
    assert probe["made"] == "<EpisodeGuard<TimeLimit<GuessNumberEnv guess-number-v0>>>"
