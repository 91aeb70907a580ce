"""The house's import contracts (pyproject.toml, ``[tool.importlinter]``) hold on the code, and each
one breaks on a tree that violates it, so a contract that checks nothing cannot pass unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = {
    "layers": "Data flows one way: engine -> export -> app, under the command line, over the ground floor",
    "app-torch-free": "The app and the bundle runtime never import torch or the engine",
    "ground-floor-torch-free": "The ground floor and the synthetic world are torch-free and GUI-free",
    "engine-no-runtime": "The engine knows nothing of ONNX Runtime or Qt",
    "no-loops": "No import loops between the modules of one package",
}
ROOTS = ("core", "world", "engine", "export", "app", "cli")


def contract_lines(output: str) -> dict[str, str]:
    """Contract name -> KEPT/BROKEN, from lint-imports' report (long names wrap onto a second line)."""
    text = " ".join(output.split())
    found = {}
    for key, name in CONTRACTS.items():
        for verdict in ("KEPT", "BROKEN"):
            if f"{name} {verdict}" in text:
                found[key] = verdict
    return found


def lint(root: Path, config: Path) -> tuple[int, dict[str, str], str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    return result.returncode, contract_lines(output), output


def importlinter_section() -> str:
    text = (REPO / "pyproject.toml").read_text()
    return text[text.index("[tool.importlinter]") :]


@pytest.fixture(scope="module")
def report() -> tuple[int, dict[str, str], str]:
    return lint(REPO, REPO / "pyproject.toml")


@pytest.mark.parametrize("contract", sorted(CONTRACTS))
def test_the_code_keeps_each_contract(report: tuple[int, dict[str, str], str], contract: str) -> None:
    code, verdicts, output = report
    assert verdicts.get(contract) == "KEPT", output
    assert code == 0, output


# One violation per contract, written into a tiny tree of the same packages.
VIOLATIONS = {
    "layers": {"core/bad.py": "import app.search\n"},
    "app-torch-free": {"app/bad.py": "import torch\n"},
    "ground-floor-torch-free": {"world/bad.py": "import torch\n"},
    "engine-no-runtime": {"engine/bad.py": "import onnxruntime\n"},
    "no-loops": {"app/loop_a.py": "import app.loop_b\n", "app/loop_b.py": "import app.loop_a\n"},
}


@pytest.mark.parametrize("contract", sorted(CONTRACTS))
def test_each_contract_breaks_on_a_violation(tmp_path: Path, contract: str) -> None:
    for package in ROOTS:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    # Modules the contracts name must exist.
    (tmp_path / "app" / "search.py").write_text("import core\n")
    for name in (
        "runtime",
        "bundle",
        "bundle_archive",
        "bundle_intake",
        "carried_names",
        "preprocess",
        "regions",
    ):
        (tmp_path / "export" / f"{name}.py").write_text("import core\n")
    config = tmp_path / "pyproject.toml"
    config.write_text(importlinter_section())

    code, verdicts, output = lint(tmp_path, config)
    assert code == 0 and set(verdicts.values()) == {"KEPT"}, output  # the clean tree passes

    for path, source in VIOLATIONS[contract].items():
        (tmp_path / path).write_text(source)
    code, verdicts, output = lint(tmp_path, config)
    assert code != 0 and verdicts[contract] == "BROKEN", output
    assert [k for k, v in verdicts.items() if v == "BROKEN"] == [contract], output
