"""The layers contract (pyproject.toml, docs/architecture.md) holds for the product, and an
import from a lower layer to a higher one breaks it: the check `make lint` runs can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from crm_followups.core.settings import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": ""},
                          capture_output=True, text=True, check=False)


def _copy_packages(target: Path) -> Path:
    for package in ("crm_followups", "ml"):
        shutil.copytree(REPO_ROOT / package, target / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", target)
    return target


def test_the_product_keeps_its_layers() -> None:
    done = _lint_imports(REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_an_import_from_core_up_to_delivery_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_packages(tmp_path)
    settings = root / "crm_followups" / "core" / "settings.py"
    settings.write_text(settings.read_text() + "\nfrom crm_followups.delivery import summary  # noqa\n")
    done = _lint_imports(root)
    assert done.returncode != 0
    assert "crm_followups.core.settings -> crm_followups.delivery.summary" in done.stdout


def test_ml_may_not_import_the_followups_layer(tmp_path: Path) -> None:
    root = _copy_packages(tmp_path)
    trends = root / "ml" / "trends.py"
    trends.write_text(trends.read_text() + "\nfrom crm_followups.followups import rules  # noqa\n")
    done = _lint_imports(root)
    assert done.returncode != 0
    assert "ml.trends -> crm_followups.followups.rules" in done.stdout
