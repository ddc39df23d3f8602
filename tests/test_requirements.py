"""One environment, declared once.

``pyproject.toml`` holds every version bound. ``requirements.txt`` (what a reader
installs to run the chapters and build the book) names gru_lib's ``book`` extra and
nothing else; Binder adds only the CPU-only PyTorch index; the README, ``.ci/run`` and
the publishing workflow install from ``requirements.txt``. A second list of versions
would drift, and a pinned or capped torch would make pip replace Colab's own PyTorch.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli", reason="Python 3.10 reads pyproject.toml with tomli: pip install tomli")

REPO = Path(__file__).resolve().parents[1]


def _requirement_lines(path: Path) -> list[str]:
    return [
        ln.strip()
        for ln in path.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_requirements_txt_is_the_book_extra_of_this_checkout(project):
    lines = _requirement_lines(REPO / "requirements.txt")
    assert lines == ["-e .[book]"], "requirements.txt names the extra; the versions live in pyproject.toml"
    assert "book" in project["optional-dependencies"]


def test_no_requirements_file_repeats_a_version():
    """Only pyproject.toml may carry version bounds (the assignments' autograder file names gru_lib alone)."""
    for path in [REPO / "requirements.txt", *sorted(REPO.glob("*/requirements.txt"))]:
        for line in _requirement_lines(path):
            if line.startswith(("-r ", "-e ", "--extra-index-url ")):
                continue
            assert not re.search(r"[<>=!~]=?\s*\d", line.split("@")[0]), f"{path.name}: {line}"


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_torch_has_a_lower_bound_only(project):
    """pip keeps an installed torch that satisfies a lower bound: Colab's PyTorch is never replaced."""
    every = list(project["dependencies"]) + [r for reqs in project["optional-dependencies"].values() for r in reqs]
    torch = [r for r in every if _name(r) == "torch"]
    assert torch == ["torch>=2.2"]
    for req in project["dependencies"]:
        assert not re.search(r"(==|<|~=|!=)", req), f"runtime dependency with an upper bound or pin: {req}"


def test_extras_for_tests_and_courses(project):
    extras = project["optional-dependencies"]
    assert {"book", "test", "course", "cluster"} <= set(extras)
    assert {_name(r) for r in extras["test"]} >= {"pytest", "check-jsonschema", "zizmor"}
    assert {_name(r) for r in extras["course"]} == {"otter-grader"}
    assert {_name(r) for r in extras["cluster"]} == {"ray"}


def test_readme_ci_and_workflow_install_from_requirements_txt():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "pip install -r requirements.txt && bash tools/build_book.sh" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"pip install (-q )?-r requirements\.txt -e \"\.\[test,course,cluster\]\"", ci), ci
    workflow = (REPO / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8")
    assert "pip install -r requirements.txt" in workflow
    assert 'pip install -e ".[test,course,cluster]"' in workflow


def test_the_readers_set_up_installs_a_jupyter_front_end(project):
    """book/how-to-use.md says `jupyter lab` after `pip install -r requirements.txt`: the book extra installs it."""
    assert "jupyterlab" in {_name(r) for r in project["optional-dependencies"]["book"]}
    assert "jupyter lab" in (REPO / "book" / "how-to-use.md").read_text(encoding="utf-8")


def test_readme_names_both_imdb_archives_and_one_line_commands():
    from gru_lib.data import imdb

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert imdb.CANONICAL.name in readme and imdb.LABELED.name in readme
    assert "python -m venv .venv && . .venv/bin/activate" in readme


def test_the_book_theme_is_pinned_to_the_tested_versions(project):
    """The pages' layout changes between theme versions: the book extra pins the ones the browser tests passed with."""
    from importlib import metadata

    pins = dict(r.split("==") for r in project["optional-dependencies"]["book"] if "==" in r)
    assert {"sphinx-book-theme", "pydata-sphinx-theme"} <= set(pins)
    for name, version in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        assert installed == version, f"{name} {installed} is installed, the book extra pins {version}"
