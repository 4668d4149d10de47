"""Install the repository root as the package ``tt_forge_models``.

The package list is computed, so a new model folder is packaged without editing this file.
"""

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent


def packages():
    found = ["tt_forge_models"]
    for folder, dirs, files in os.walk(ROOT):
        # Only packages are descended into: a subpackage is a folder with an __init__.py inside a
        # package, so tests/, build/, dist/ and a checkout's .venv or .git are never walked.
        dirs[:] = sorted(d for d in dirs if (Path(folder) / d / "__init__.py").is_file())
        rel = Path(folder).relative_to(ROOT)
        if rel.parts and "__init__.py" in files:
            found.append(".".join(("tt_forge_models",) + rel.parts))
    return found


class BuildPy(build_py):
    """Leave this file out of the installed package: the root folder is the package."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not (package == "tt_forge_models" and m[1] == "setup")]


setup(
    cmdclass={"build_py": BuildPy},
    packages=packages(),
    package_dir={"tt_forge_models": "."},
    package_data={
        "": ["*.json", "*.jpg", "*.wav", "*.md", "*.cfg", "*.txt", "**/*.json", "**/*.jpg", "**/*.wav", "**/*.md"]
    },
    include_package_data=False,
)
