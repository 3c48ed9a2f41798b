"""Maps the design card's top-level folders under the one `agentgym` import package.

pyproject.toml holds all metadata; this file only computes the package list, so that a new
subpackage in any of the mapped folders is picked up without editing a hand-kept list.
"""

from setuptools import find_packages, setup

# import name -> folder in the repository
PACKAGE_ROOTS = {
    "agentgym": "agentgym",
    "agentgym.environments": "environments",
    "agentgym.sandboxes": "sandboxes",
    "agentgym.trainers": "trainers",
}

packages = []
for name, folder in PACKAGE_ROOTS.items():
    packages.append(name)
    packages.extend(f"{name}.{sub}" for sub in find_packages(folder))

setup(packages=packages, package_dir=PACKAGE_ROOTS)
