"""The graded assignments under ``assignments/``, built and graded as an instructor would.

For each otter master notebook, ``otter assign`` writes the student notebook and the
autograder zip; ``otter run`` (otter's grading without Docker) then grades

* the solution notebook: full points;
* the student notebook as handed out: zero;
* the solution with one typical slip (Cho's update rule where the paper's is asked for,
  the reset gate on the wrong side of ``U_h``): exactly the points of the question the
  slip is in are lost, and no others.

The master notebooks themselves are checked without otter: every question has public
and hidden tests, and every test calls a ``gru_lib.exercises`` checker or asserts the
form of an answer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = REPO / "assignments"
MASTERS = sorted(ASSIGNMENTS.glob("*.ipynb"))

#: Points per question, as the master notebooks declare them.
POINTS = {
    "reduced-gates": {"q1": 4, "q2": 3, "q3": 1, "q4": 1},
    "update-rules": {"q1": 2, "q2": 2, "q3": 2, "q4": 1},
}

#: Typical slips: (assignment, question it is in, the solution's line, the slipped line).
SLIPS = {
    "reset-outside-U_h": (
        "reduced-gates", "q1",
        '(r * h) @ params["U_h"].T',
        'r * (h @ params["U_h"].T)',
    ),
    "swapped-update-rule": (
        "update-rules", "q1",
        '    if rule == "paper":\n        return (1 - z) * h + z * h_tilde\n    return z * h + (1 - z) * h_tilde',
        '    if rule == "paper":\n        return z * h + (1 - z) * h_tilde\n    return (1 - z) * h + z * h_tilde',
    ),
    "reset-before-U_h-where-after-is-asked": (
        "update-rules", "q2",
        'r * (h @ params["U_h"].T + params["b_hU"])',
        '(r * h) @ params["U_h"].T + params["b_hU"]',
    ),
}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


# ------------------------------------------------------------------ the master notebooks


def test_there_are_two_assignments():
    assert {p.stem for p in MASTERS} == set(POINTS)


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_master_notebook_format(master):
    """Config first; each question declares its points and has public and hidden tests."""
    yaml = pytest.importorskip("yaml")
    cells = _cells(master)
    first = cells[0]
    assert first["cell_type"] == "raw" and _source(first).startswith("# ASSIGNMENT CONFIG")
    config = yaml.safe_load(_source(first))
    assert config["name"] and config["tests"]["files"] is True  # tests as files: Colab can use them

    questions: dict[str, dict] = {}
    current = None
    in_tests = False
    for cell in cells:
        src = _source(cell).strip()
        if cell["cell_type"] == "raw" and src.startswith("# BEGIN QUESTION"):
            meta = yaml.safe_load(src.split("\n", 1)[1])
            current = questions.setdefault(meta["name"], {"points": meta["points"], "public": [], "hidden": []})
        elif cell["cell_type"] == "raw" and src == "# BEGIN TESTS":
            in_tests = True
        elif cell["cell_type"] == "raw" and src == "# END TESTS":
            in_tests = False
        elif in_tests:
            hidden = "hidden: true" in src
            current["hidden" if hidden else "public"].append(src)
    assert {q: v["points"] for q, v in questions.items()} == POINTS[master.stem]
    for name, q in questions.items():
        assert q["public"] and q["hidden"], f"{master.stem} {name}: needs public and hidden tests"
        for test in q["public"] + q["hidden"]:
            body = test.split('""" # END TEST CONFIG', 1)[-1].strip()
            assert re.search(r"ex\.check_\w+\(", body) or body.startswith("assert "), body
            # A test passes when it prints nothing: a checker's verdict is raised, not shown.
            assert body.startswith(("_ = ", "assert ", "for ")), body
        assert any("ex.check_" in t for t in q["hidden"]), f"{master.stem} {name}: hidden tests grade with a checker"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_master_notebook_installs_then_starts_otter(master):
    """On Colab the first code cell installs gru_lib with the course extra, before otter is imported."""
    code = [_source(c) for c in _cells(master) if c["cell_type"] == "code"]
    assert "import gru_lib" in code[0] and '"gru_lib[course] @ git+' in code[0]
    assert "torch" not in code[0].split("except ImportError:")[1]  # never reinstall torch
    assert code[1].startswith("import otter") and f'otter.Notebook("{master.name}")' in code[1]


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_cited_chapters_exist(master):
    """The chapters an assignment names (in italics, after "chapter(s)") are pages of the book."""
    titles = {m.group(1).strip() for page in (REPO / "book").glob("*.md")
              for m in [re.search(r"^# (.+)$", page.read_text(encoding="utf-8"), re.M)] if m}
    text = "\n".join("".join(c["source"]) for c in json.loads(master.read_text(encoding="utf-8"))["cells"]
                     if c["cell_type"] == "markdown")
    cited = [t for m in re.finditer(r"chapters? ((?:\*[^*]+\*(?:,\s*|\s+and\s+)?)+)", text)
             for t in re.findall(r"\*([^*]+)\*", m.group(1))]
    assert cited, f"{master.name} names no chapter of the book"
    assert not [t for t in cited if t not in titles], f"{master.name} cites chapters the book does not have"


def test_the_hidden_tests_stay_out_of_the_repository():
    """``otter assign`` writes the autograder (with the hidden tests) to assignments/dist/: git ignores it."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    probe = "assignments/dist/reduced-gates/autograder/tests/q1.py"
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", probe], cwd=REPO)
    assert done.returncode == 0, f"{probe} is not ignored by .gitignore"


def test_slips_edit_exactly_one_place():
    """Each slip must match the solution once, or the slip tests would test nothing."""
    for name, (assignment, _, right, wrong) in SLIPS.items():
        text = "\n".join(_source(c) for c in _cells(ASSIGNMENTS / f"{assignment}.ipynb"))
        assert text.count(right) == 1, name
        assert right != wrong


# ------------------------------------------------------------------ otter assign and otter run


def _otter(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run(
        [sys.executable, "-m", "otter", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def assigned(tmp_path_factory):
    """``otter assign`` of every master notebook: {assignment: output directory}."""
    pytest.importorskip("otter", reason="otter-grader is not installed: pip install -e \".[course]\"")
    out = {}
    for master in MASTERS:
        dist = tmp_path_factory.mktemp(master.stem)
        # --no-run-tests: the grading below runs the solution through the autograder anyway.
        proc = _otter("assign", "--no-run-tests", str(master), str(dist), cwd=ASSIGNMENTS)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[master.stem] = dist
    return out


def _grade(dist: Path, notebook: Path, workdir: Path) -> dict[str, float]:
    """Grade one notebook with the assignment's autograder zip; {question: score}."""
    (zip_path,) = (dist / "autograder").glob("*-autograder_*.zip")
    results = workdir / "results"
    results.mkdir(parents=True)
    proc = _otter("run", "--no-logo", "-a", str(zip_path), "-o", str(results), str(notebook), cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((results / "results.json").read_text(encoding="utf-8"))
    return {t["name"]: t["score"] for t in data["tests"] if t["name"] != "Public Tests"}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(POINTS))
def test_otter_assign_outputs(assigned, assignment):
    dist = assigned[assignment]
    student = dist / "student" / f"{assignment}.ipynb"
    solution = dist / "autograder" / f"{assignment}.ipynb"
    assert student.is_file() and solution.is_file()
    assert len(list((dist / "autograder").glob("*-autograder_*.zip"))) == 1
    student_code = "\n".join(_source(c) for c in _cells(student) if c["cell_type"] == "code")
    assert "BEGIN SOLUTION" not in student_code and "# SOLUTION" not in student_code
    # No line of the solutions reaches the student (the two pieces the questions ask for).
    for piece in ("torch.sigmoid(gate(", "count(\"gru1\", 128", "return {k: -p"):
        assert piece not in student_code
    # The students' tests are the public ones only.
    for test in (dist / "student" / "tests").glob("*.py"):
        assert "'hidden': True" not in test.read_text(encoding="utf-8")
    assert any("'hidden': True" in t.read_text(encoding="utf-8") for t in (dist / "autograder" / "tests").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(POINTS))
def test_solution_scores_full_points(assigned, assignment, tmp_path):
    scores = _grade(assigned[assignment], assigned[assignment] / "autograder" / f"{assignment}.ipynb", tmp_path)
    assert scores == POINTS[assignment]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(POINTS))
def test_blank_student_notebook_scores_zero(assigned, assignment, tmp_path):
    scores = _grade(assigned[assignment], assigned[assignment] / "student" / f"{assignment}.ipynb", tmp_path)
    assert scores == {q: 0 for q in POINTS[assignment]}


@pytest.mark.slow
@pytest.mark.parametrize("slip", sorted(SLIPS))
def test_a_slip_loses_exactly_its_question(assigned, slip, tmp_path):
    assignment, question, right, wrong = SLIPS[slip]
    nb = json.loads((assigned[assignment] / "autograder" / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    edited = 0
    for cell in nb["cells"]:
        src = _source(cell)
        if right in src:
            cell["source"] = src.replace(right, wrong)
            edited += 1
    assert edited == 1
    submission = tmp_path / f"{assignment}.ipynb"
    submission.write_text(json.dumps(nb), encoding="utf-8")
    scores = _grade(assigned[assignment], submission, tmp_path / "grading")
    want = dict(POINTS[assignment], **{question: 0})
    assert scores == want


def test_instructors_page_is_in_the_book_and_names_every_assignment():
    yaml = pytest.importorskip("yaml")
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    assert "file: book/instructors" in toc and yaml.safe_load(toc)
    page = (REPO / "book" / "instructors.md").read_text(encoding="utf-8")
    for needle in ("otter assign", "otter run", "Colab", 'pip install -e ".[course]"', *POINTS):
        assert needle in page, needle
    # The page's table of points agrees with the master notebooks.
    table: dict[str, dict[str, int]] = {}
    current = None
    for line in page.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) == 5 and re.fullmatch(r"q\d+", cols[1]):
            name = re.fullmatch(r"`([\w-]+)`", cols[0])
            current = name.group(1) if name else current
            table.setdefault(current, {})[cols[1]] = int(cols[2])
    assert table == POINTS
