"""The GitHub Actions workflow that tests the book and publishes it on GitHub Pages.

Two tools check every workflow under ``.github/workflows``, offline: check-jsonschema
against GitHub's workflow schema, and zizmor's security audit (no finding of medium
severity or above). Both come with the ``test`` extra; without them those two tests
skip and say so. The rest reads the workflow itself: what runs when, the
permissions, the pinned actions and the caches.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
BOOK = REPO / ".github" / "workflows" / "book.yml"


def _tool(name: str) -> str:
    """The console script ``name`` of this Python's environment, else the one on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed: pip install -e \".[test]\"")
    return found


@pytest.fixture(scope="module")
def workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(BOOK.read_text(encoding="utf-8"))


def _on(workflow: dict) -> dict:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    return workflow.get("on", workflow.get(True))


def test_workflows_match_githubs_schema():
    assert WORKFLOWS, "no workflow under .github/workflows"
    proc = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing_of_medium_severity_or_above():
    proc = subprocess.run(
        [_tool("zizmor"), "--offline", "--min-severity", "medium", "--no-progress", *map(str, WORKFLOWS)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_triggers_and_jobs(workflow):
    on = _on(workflow)
    assert set(on) == {"pull_request", "push"}
    assert on["push"]["branches"] == ["main"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = "\n".join(step.get("run", "") for step in build["steps"])
    assert "bash tools/build_book.sh" in runs and "python -m pytest" in runs
    tests = [s for s in build["steps"] if "pytest" in s.get("run", "")]
    assert [s.get("if") for s in tests] == ["github.event_name == 'pull_request'"]
    assert deploy["needs"] == "build"
    assert deploy["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert deploy["environment"]["name"] == "github-pages"


def test_official_pages_actions(workflow):
    build = [s.get("uses", "").split("@")[0] for s in workflow["jobs"]["build"]["steps"]]
    deploy = [s.get("uses", "").split("@")[0] for s in workflow["jobs"]["deploy"]["steps"]]
    assert "actions/upload-pages-artifact" in build
    assert deploy == ["actions/configure-pages", "actions/deploy-pages"]
    upload = next(s for s in workflow["jobs"]["build"]["steps"] if "upload-pages-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"


def test_least_privilege(workflow):
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["build"]["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    for step in workflow["jobs"]["build"]["steps"]:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_every_action_is_pinned_to_a_commit_with_its_tag():
    for path in WORKFLOWS:
        uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
        assert uses, path
        for ref, comment in uses:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref} is not pinned to a SHA"
            assert re.fullmatch(r"\s*# v\d+(\.\d+)*", comment), f"{path.name}: {ref} needs its tag in a comment"


def test_no_expression_inside_a_shell_script():
    """${{ ... }} expanded into a `run:` script is how untrusted text becomes code."""
    for path in WORKFLOWS:
        yaml = pytest.importorskip("yaml")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for job in data["jobs"].values():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def test_caches_pip_and_the_data_keyed_on_the_checksums(workflow):
    steps = workflow["jobs"]["build"]["steps"]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["cache"] == "pip"
    assert set(setup["with"]["cache-dependency-path"].split()) == {"pyproject.toml", "requirements.txt"}
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "~/.cache/gru_lib"
    hashed = re.findall(r"'([^']+)'", re.search(r"hashFiles\(([^)]*)\)", cache["with"]["key"]).group(1))
    text = "".join((REPO / f).read_text(encoding="utf-8") for f in hashed)
    from gru_lib.data import imdb, mnist

    # Every canonical checksum is declared in a file of the key: a new checksum, a new cache.
    for remote in [*mnist.FILES.values(), *imdb.ARCHIVES.values()]:
        assert remote.sha256 in text, remote.name


def test_the_book_keeps_no_execution_cache_to_cache():
    """The workflow caches no jupyter-cache because the build executes every chapter afresh."""
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["execute"]["execute_notebooks"] == "force"
