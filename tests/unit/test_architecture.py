"""The import contracts of pyproject.toml (import-linter): layers, no cycles, pipeline standing alone.

The first test holds the repository to them. The others copy the code and the
configuration into a temporary directory, add one forbidden import, and check
that the very same contracts then fail: a check that cannot fail checks nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "webapp", "workers")


def lint_imports_command() -> list[str]:
    """The lint-imports entry point of the interpreter running the tests."""
    script = Path(sys.executable).with_name("lint-imports")
    if script.is_file():
        return [str(script)]
    found = shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed (pip install -r requirements.txt)")
    return [found]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with root's pyproject.toml, the packages under root first on the path, no cache written."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([*lint_imports_command(), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory) -> Path:
    """The packages and pyproject.toml, copied once (a test adds its import to its own copy of one module)."""
    root = tmp_path_factory.mktemp("code")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def with_import(root: Path, module: str, imported: str, tmp_path: Path) -> Path:
    """A copy of `root` in which `module` also imports `imported`."""
    copy = tmp_path / "code"
    shutil.copytree(root, copy)
    path = copy.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\nimport {imported}  # noqa: E402,F401\n", encoding="utf-8")
    return copy


def test_the_code_keeps_every_import_contract():
    completed = lint_imports(ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "0 broken" in completed.stdout


def test_an_import_cycle_fails_the_check(copy_of_the_code, tmp_path):
    # pipeline.eval.runner already imports pipeline.data (the frozen-set hash); data importing eval back closes a
    # cycle that the layers allow (they are siblings) but the acyclic contract does not.
    completed = lint_imports(with_import(copy_of_the_code, "pipeline.data.jsonl", "pipeline.eval.runner", tmp_path))
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "No import cycles between the pipeline's packages and modules, at any depth BROKEN" in completed.stdout
    assert ".data -> .eval" in completed.stdout or ".eval -> .data" in completed.stdout


def test_an_upward_import_fails_the_check(copy_of_the_code, tmp_path):
    completed = lint_imports(with_import(copy_of_the_code, "pipeline.tasks.registry", "pipeline.eval.metrics",
                                         tmp_path))
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "pipeline.tasks is not allowed to import pipeline.eval" in completed.stdout
    assert "pipeline.tasks.registry -> pipeline.eval.metrics" in completed.stdout


def test_the_pipeline_importing_the_web_app_fails_the_check(copy_of_the_code, tmp_path):
    completed = lint_imports(with_import(copy_of_the_code, "pipeline.eval.paired", "webapp.settings", tmp_path))
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "pipeline imports neither the web app, the workers, Django nor Celery BROKEN" in completed.stdout


def test_the_unchanged_copy_passes(copy_of_the_code):
    """So the failures above come from the added import, not from copying."""
    completed = lint_imports(copy_of_the_code)
    assert completed.returncode == 0, completed.stdout + completed.stderr


CYCLES_SCRIPT = """
import json, sys
import networkx
from grimp import build_graph
packages = sys.argv[1:]
graph = build_graph(*packages, cache_dir=None)
edges = networkx.DiGraph((module, imported) for module in graph.modules
                         for imported in graph.find_modules_directly_imported_by(module)
                         if imported.split(".")[0] in packages)
print(json.dumps([sorted(group) for group in networkx.strongly_connected_components(edges) if len(group) > 1]))
"""


def module_cycles(root: Path) -> list[list[str]]:
    """Every group of our modules under `root` that import each other in a ring (imports inside functions
    included), e.g. a package's __init__ importing a module that imports the package back: import-linter's
    contracts look at siblings and layers, not at a module and its own package."""
    completed = subprocess.run([sys.executable, "-c", CYCLES_SCRIPT, *PACKAGES], cwd=root, capture_output=True,
                               text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(root)})
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_no_module_imports_itself_through_others():
    assert module_cycles(ROOT) == []


def test_a_module_importing_its_own_package_back_is_found(copy_of_the_code, tmp_path):
    copy = with_import(copy_of_the_code, "pipeline.tasks.hidden_params.teacher.mistral",
                       "pipeline.tasks.hidden_params.teacher", tmp_path)
    assert any("pipeline.tasks.hidden_params.teacher.mistral" in group for group in module_cycles(copy))
