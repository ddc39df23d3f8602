"""The book's machinery, without building the book.

* every entry of ``_toc.yml`` exists;
* every chapter's notebook twin (``book/<name>.ipynb``) is in step with its MyST
  Markdown source, and the chapters follow the conventions (``tools/sync_notebooks.py``);
* the configuration builds strictly and executes every chapter;
* citations, the Binder environment, the CDN scripts and their local test copies agree.

Building the book itself is ``bash tools/build_book.sh``; the built pages are tested in
a browser by ``tests/test_book_browser.py``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_tool(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(f"_book_tools_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sync_notebooks = _load_tool("sync_notebooks", REPO / "tools" / "sync_notebooks.py")
serve_book = _load_tool("serve_book", REPO / "tools" / "serve_book.py")


@pytest.fixture(scope="module")
def yaml():
    return pytest.importorskip("yaml")


@pytest.fixture(scope="module")
def config(yaml):
    return yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def toc(yaml):
    return yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))


def toc_entries(toc) -> list[str]:
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                found.append(node["file"])
            for key in ("parts", "chapters", "sections", "subtrees", "entries"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


# ------------------------------------------------------------------- table of contents


def test_toc_entries_exist(toc):
    entries = toc_entries(toc)
    assert len(entries) == len(set(entries)), f"duplicate toc entries: {entries}"
    missing = []
    for entry in entries:
        path = REPO / entry
        if path.suffix in (".md", ".ipynb"):
            ok = path.is_file()
        else:
            ok = path.with_suffix(".md").is_file() or path.with_suffix(".ipynb").is_file()
        if not ok:
            missing.append(entry)
    assert not missing, f"_toc.yml names files that do not exist: {missing}"


def test_toc_names_the_md_source_of_each_chapter(toc):
    """A chapter is built from its .md; its .ipynb twin is excluded from the build."""
    wrong = [e for e in toc_entries(toc) if e.endswith(".ipynb") and (REPO / e).with_suffix(".md").is_file()]
    assert not wrong, f"name these chapters without the .ipynb suffix: {wrong}"


def test_toc_has_the_getting_started_pages(toc):
    entries = {re.sub(r"\.md$", "", e) for e in toc_entries(toc)}
    assert toc["root"] == "book/intro"
    assert {"book/how-to-use", "book/bibliography"} <= entries


# ------------------------------------------------------------------- notebook pairing


def test_notebook_twins_in_step():
    pytest.importorskip("jupytext")
    report = sync_notebooks.sync(REPO, check=True)
    assert not report.problems, "\n".join(report.problems) + "\nfix: python tools/sync_notebooks.py"


def test_sync_tool_cli_check_exits_zero(capsys):
    pytest.importorskip("jupytext")
    assert sync_notebooks.main(["--check"]) == 0, capsys.readouterr().err


CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

Some text, $x_t$.

```{{code-cell}} ipython3
:tags: [hide-cell]
{install}
```

```{{code-cell}} ipython3
print(1 + 1)
```
"""


@pytest.fixture
def scratch_book(tmp_path):
    pytest.importorskip("jupytext")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "plain.md").write_text("# Not a notebook\n", encoding="utf-8")
    chapter = tmp_path / "book" / "chapter.md"
    chapter.write_text(CHAPTER.format(install=sync_notebooks.INSTALL_CELL), encoding="utf-8")
    return tmp_path


def test_sync_writes_then_checks_clean(scratch_book):
    twin = scratch_book / "book" / "chapter.ipynb"
    report = sync_notebooks.sync(scratch_book, check=True)
    assert any("missing" in p for p in report.problems)
    report = sync_notebooks.sync(scratch_book)
    assert report.written == [twin] and not report.problems
    assert not (scratch_book / "book" / "plain.ipynb").exists()
    assert sync_notebooks.sync(scratch_book, check=True).problems == []

    nb = json.loads(twin.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == sync_notebooks.INSTALL_CELL
    assert code[0]["metadata"]["tags"] == ["hide-cell"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)

    # deterministic: writing again changes nothing
    before = twin.read_bytes()
    twin.unlink()
    sync_notebooks.sync(scratch_book)
    assert twin.read_bytes() == before


def test_sync_detects_stale_twin_and_outputs(scratch_book):
    sync_notebooks.sync(scratch_book)
    chapter = scratch_book / "book" / "chapter.md"
    twin = chapter.with_suffix(".ipynb")
    chapter.write_text(chapter.read_text(encoding="utf-8").replace("1 + 1", "2 + 2"), encoding="utf-8")
    problems = sync_notebooks.sync(scratch_book, check=True).problems
    assert problems and "out of step" in problems[0]
    sync_notebooks.sync(scratch_book)
    assert sync_notebooks.sync(scratch_book, check=True).problems == []

    nb = json.loads(twin.read_text(encoding="utf-8"))
    nb["cells"][-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["4\n"]}]
    twin.write_text(json.dumps(nb), encoding="utf-8")
    assert sync_notebooks.sync(scratch_book, check=True).problems, "a twin with outputs must be stale"


def test_sync_enforces_first_cell_and_orphans(scratch_book):
    chapter = scratch_book / "book" / "chapter.md"
    chapter.write_text(
        CHAPTER.format(install="import torch").replace(":tags: [hide-cell]\n", ""), encoding="utf-8"
    )
    (scratch_book / "book" / "orphan.ipynb").write_text("{}", encoding="utf-8")
    problems = "\n".join(sync_notebooks.sync(scratch_book, check=True).problems)
    assert "first code cell must be the install cell" in problems
    assert "tagged 'hide-cell'" in problems
    assert "orphan.ipynb: no MyST Markdown source" in problems


def test_repository_url_is_set_in_one_place():
    """repository.url of _config.yml; every other mention (chapters, assignments, README) agrees."""
    problems = []
    report = sync_notebooks.Report()
    sync_notebooks.check_repository_urls(REPO, report)
    problems = report.problems
    assert not problems, "\n".join(problems)
    files = {p.relative_to(REPO).as_posix() for p in sync_notebooks.url_files(REPO)}
    assert {"book/how-to-use.md", "book/mnist.md", "assignments/update-rules.ipynb"} <= files
    # The tools and the tests derive it rather than repeat it.
    for path in [*(REPO / "tools").rglob("*.py"), *(REPO / "tests").glob("*.py")]:
        assert sync_notebooks.repository_url(REPO) not in path.read_text(encoding="utf-8"), path


def test_a_stray_repository_url_is_reported(scratch_book):
    (scratch_book / "book" / "plain.md").write_text(
        "Clone https://github.com/someone/elsewhere first.\n", encoding="utf-8")
    problems = "\n".join(sync_notebooks.sync(scratch_book, check=True).problems)
    assert "book/plain.md: links to https://github.com/someone/elsewhere" in problems


def test_moving_the_repository_url_moves_every_mention(scratch_book):
    """What a fork runs: _config.yml, the install cells, the other mentions and the twins follow."""
    old = sync_notebooks.repository_url(REPO)
    new = "https://github.com/a-fork/the-book"
    (scratch_book / "_config.yml").write_text(
        f"title: t\nrepository:\n  url: {old}\n  branch: main\n", encoding="utf-8")
    (scratch_book / "assignments").mkdir()
    (scratch_book / "assignments" / "requirements.txt").write_text(f"gru_lib @ git+{old}\n", encoding="utf-8")
    (scratch_book / "book" / "plain.md").write_text(f"See [the code]({old}) or {old}x.\n", encoding="utf-8")
    sync_notebooks.sync(scratch_book)
    # {old}x is another repository: it stays, and the check reports it (so main() exits 1).
    assert sync_notebooks.main(["--root", str(scratch_book), "--repository-url", new]) == 1
    assert sync_notebooks.repository_url(scratch_book) == new
    assert sync_notebooks.sync(scratch_book, check=True).problems == [f"book/plain.md: links to {old}x, "
        f"but the repository is {new} (repository.url in _config.yml); fix: python tools/sync_notebooks.py "
        "--repository-url URL, or list another project's repository in OTHER_REPOSITORIES"]
    assert f"[the code]({new})" in (scratch_book / "book" / "plain.md").read_text(encoding="utf-8")
    assert (scratch_book / "assignments" / "requirements.txt").read_text(encoding="utf-8") == f"gru_lib @ git+{new}\n"
    twin = json.loads((scratch_book / "book" / "chapter.ipynb").read_text(encoding="utf-8"))
    first = next(c for c in twin["cells"] if c["cell_type"] == "code")
    assert "".join(first["source"]) == sync_notebooks.install_cell(new)
    assert sync_notebooks.main(["--root", str(scratch_book), "--repository-url", "not a url"]) == 1


def test_install_cell_never_reinstalls_torch():
    cell = sync_notebooks.INSTALL_CELL
    assert cell.startswith("try:\n    import gru_lib\nexcept ImportError:\n")
    assert "torch" not in cell and "--upgrade" not in cell and "-U " not in cell
    assert f'"gru_lib @ git+{sync_notebooks.repository_url(REPO)}"' in cell


def test_how_to_use_shows_the_install_cell():
    text = (REPO / "book" / "how-to-use.md").read_text(encoding="utf-8")
    assert sync_notebooks.INSTALL_CELL in text


# ----------------------------------------------------------------------- configuration


def test_config_builds_strictly_and_executes_everything(config):
    execute = config["execute"]
    assert execute["execute_notebooks"] == "force"
    assert execute["allow_errors"] is False
    assert int(execute["timeout"]) >= 60
    assert config["only_build_toc_files"] is True
    excluded = set(config["exclude_patterns"])
    assert {"_build", ".venv", "node_modules", "tests", "results", "README.md", "book/**.ipynb"} <= excluded


def test_config_launch_buttons(config):
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", config["repository"]["url"])
    assert config["repository"]["branch"] == "main"
    assert config["repository"].get("path_to_book", "") == ""  # the book's root is the repository's
    launch = config["launch_buttons"]
    assert launch["colab_url"] == "https://colab.research.google.com"
    assert launch["binderhub_url"] == "https://mybinder.org"


def test_config_extensions(config):
    exts = set(config["sphinx"]["extra_extensions"])
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax", "sphinx_exercise"} <= exts
    assert {"dollarmath", "amsmath"} <= set(config["parse"]["myst_enable_extensions"])
    for name, folder in config["sphinx"]["local_extensions"].items():
        assert (REPO / folder / f"{name}.py").is_file()


def test_build_script_is_strict():
    script = (REPO / "tools" / "build_book.sh").read_text(encoding="utf-8")
    assert re.search(r"build \. --all -W -n --keep-going", script)
    assert "GRU_LIB_DATA_DIR" in script and "../shared/data" in script
    # an inherited MPLBACKEND=Agg would replace the kernels' inline backend: no figures
    assert re.search(r"^unset MPLBACKEND$", script, re.M)


# -------------------------------------------------------------------------- references


def _cited_keys() -> set[str]:
    keys: set[str] = set()
    for path in (REPO / "book").rglob("*.md"):
        if "_build" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        # code is not a citation: drop plain code blocks (not directives) and ``code``
        text = re.sub(r"^(`{3,}|~{3,})(?!\{)[^\n]*\n.*?^\1[ \t]*$", "", text, flags=re.M | re.S)
        text = re.sub(r"``.+?``", "", text)
        for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", text):
            keys.update(k.strip() for k in group.split(",") if k.strip())
    return keys


def test_bibliography_has_the_core_references():
    pybtex = pytest.importorskip("pybtex.database")
    bib = pybtex.parse_file(str(REPO / "book" / "references.bib"))
    keys = set(bib.entries)
    core = {
        "dey2017gate", "cho2014learning", "chung2014empirical", "hochreiter1997long",
        "gers2000learning", "bengio1994learning", "zhou2016minimal", "lecun1998gradient",
        "maas2011learning", "chollet2015keras", "paszke2019pytorch", "salem2016reduced",
        "olah2015understanding",
    }  # fmt: skip
    assert core <= keys, f"missing: {sorted(core - keys)}"
    assert bib.entries["dey2017gate"].fields["doi"] == "10.1109/MWSCAS.2017.8053243"
    assert "1412.3555" in bib.entries["chung2014empirical"].fields["eprint"]
    unknown = _cited_keys() - keys
    assert not unknown, f"cited but not in book/references.bib: {sorted(unknown)}"


# ------------------------------------------------------------------ Binder, CDN assets


def test_binder_installs_cpu_torch_and_the_package():
    """Binder: CPU-only torch, then the reader's environment of the top-level requirements.txt."""
    lines = [
        ln.strip()
        for ln in (REPO / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert lines == ["--extra-index-url https://download.pytorch.org/whl/cpu", "-r ../requirements.txt"]


book_html = _load_tool("book_html", REPO / "tools" / "sphinx_ext" / "book_html.py")


def test_pages_load_their_scripts_from_the_site(config):
    """MathJax, require.js and the widget manager come from _static/vendor/, files of the pinned npm packages."""
    sphinx = config["sphinx"]["config"]
    scripts = [sphinx["mathjax_path"], *sphinx["nb_ipywidgets_js"]]
    pins = json.loads((REPO / "package.json").read_text(encoding="utf-8"))["devDependencies"]
    for path in scripts:
        assert "://" not in path and path.startswith(f"{book_html.VENDOR_DIR}/"), f"{path}: not a file of the site"
        package = next((name for name in book_html.VENDORED if path.startswith(f"vendor/{name}/")), None)
        assert package in pins, f"{path}: from no package that package.json pins"
        inner = path[len(f"vendor/{package}/"):]
        assert any(Path(inner).match(pattern) or inner.startswith(pattern + "/")
                   for pattern in book_html.VENDORED[package]), f"{path}: not among the vendored files"
    assert set(book_html.pinned_versions()) == set(book_html.VENDORED)


def _fake_package(node_modules: Path, name: str, version: str, files: list[str]) -> None:
    folder = node_modules / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"name": name, "version": version}), encoding="utf-8")
    for f in files:
        (folder / f).parent.mkdir(parents=True, exist_ok=True)
        (folder / f).write_text("//", encoding="utf-8")


def test_vendored_files_need_the_pinned_packages_and_are_copied(tmp_path):
    nm = tmp_path / "node_modules"
    pins = book_html.pinned_versions()
    assert any("not installed" in p for p in book_html.vendor_problems(nm))
    _fake_package(nm, "requirejs", pins["requirejs"], ["require.js"])
    _fake_package(nm, "@jupyter-widgets/html-manager", pins["@jupyter-widgets/html-manager"],
                  ["dist/embed-amd.js", "dist/embed-amd.js.map", "dist/a.woff", "dist/a.woff2", "dist/a.eot",
                   "dist/a.ttf", "dist/a.svg"])
    _fake_package(nm, "mathjax", "0.0.1", ["es5/tex-mml-chtml.js", "es5/output/chtml/fonts/woff-v2/x.woff",
                                           "es5/input/tex/extensions/ams.js", "es5/a11y/x.js", "es5/ui/menu.js",
                                           "es5/adaptors/liteDOM.js", "es5/sre/big.js"])
    assert book_html.vendor_problems(nm) == [f"mathjax is 0.0.1, package.json pins {pins['mathjax']}"]
    written = {p.relative_to(tmp_path / "static").as_posix() for p in book_html.copy_vendored(tmp_path / "static", nm)}
    assert "vendor/requirejs/require.js" in written
    assert "vendor/mathjax/es5/output/chtml/fonts/woff-v2/x.woff" in written
    assert "vendor/@jupyter-widgets/html-manager/dist/embed-amd.js" in written
    assert not [w for w in written if w.endswith(".map") or "/sre/" in w]


def test_is_external():
    assert serve_book.is_external("https://cdn.jsdelivr.net/x", "http://127.0.0.1:1/")
    assert not serve_book.is_external("http://127.0.0.1:1/book/intro.html", "http://127.0.0.1:1/")
    assert not serve_book.is_external("data:image/png;base64,AAAA", "http://127.0.0.1:1/")


# --------------------------------------------------------------------------- the reader's notebooks

READER_CHAPTER = CHAPTER.split("# A chapter")[0] + """# A chapter

As {{cite:t}}`dey2017gate` showed, and others did too {{cite:p}}`dey2017gate,cho2014learning`,
see {{doc}}`counting`, {{doc}}`the notations <notations>` and {{ref}}`below <the-target>`.

```{{note}}
A note with {{cite:p}}`dey2017gate`.
```

(the-target)=
## A section

```{{exercise}} Add two numbers
:label: ex-add

Compute $1 + 1$.
```

```{{code-cell}} ipython3
:tags: [hide-cell]
{install}
```

```{{code-cell}} ipython3
answer = None  # your code here
```

```{{solution-start}} ex-add
:class: dropdown
```

The sum is two.

```{{code-cell}} ipython3
answer = 1 + 1  # the solution
```

```{{solution-end}}
```

After the exercise.
"""


@pytest.fixture
def reader_book(tmp_path):
    pytest.importorskip("jupytext")
    pytest.importorskip("pybtex")
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text((REPO / "_config.yml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "book" / "references.bib").write_bytes((REPO / "book" / "references.bib").read_bytes())
    for name in ("counting", "notations"):
        (tmp_path / "book" / f"{name}.md").write_bytes((REPO / "book" / f"{name}.md").read_bytes())
    chapter = tmp_path / "book" / "chapter.md"
    chapter.write_text(READER_CHAPTER.format(install=sync_notebooks.INSTALL_CELL), encoding="utf-8")
    return chapter


def _markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_reader_notebook_rewrites_roles_and_directives(reader_book):
    nb = sync_notebooks.expected_notebook(reader_book)
    text = _markdown(nb)
    site = sync_notebooks.site_url(sync_notebooks.repository_url(REPO))
    bib = f"{site}book/bibliography.html"
    assert f"As [Dey and Salem (2017)]({bib}) showed" in text
    assert f"([Dey and Salem, 2017]({bib}); [Cho et al., 2014]({bib}))" in text
    assert f"[Counting parameters]({site}book/counting.html)" in text or f"({site}book/counting.html)" in text
    assert f"[the notations]({site}book/notations.html)" in text
    assert f"[below]({site}book/chapter.html#the-target)" in text
    assert f"> **Note**\n>\n> A note with ([Dey and Salem, 2017]({bib}))." in text
    assert "### Exercise 1: Add two numbers\n\nCompute $1 + 1$." in text
    assert "(the-target)=" not in text and ":label:" not in text
    assert not sync_notebooks.MYST_ROLE.search(text) and not sync_notebooks.MYST_DIRECTIVE.search(text)


def test_reader_notebook_leaves_the_solution_out(reader_book):
    nb = sync_notebooks.expected_notebook(reader_book)
    sources = [c.source for c in nb.cells]
    assert "answer = None  # your code here" in sources
    assert not any("the solution" in s or "The sum is two" in s for s in sources)
    link = next(s for s in sources if "solution is on" in s)
    assert f"{sync_notebooks.site_url(sync_notebooks.repository_url(REPO))}book/chapter.html#ex-add" in link
    assert sources[-1] == "After the exercise."


def test_reader_notebook_refuses_an_unknown_citation(reader_book):
    reader_book.write_text(reader_book.read_text(encoding="utf-8").replace("cho2014learning", "nobody1999"),
                           encoding="utf-8")
    with pytest.raises(ValueError, match="nobody1999.*not in the bibliography"):
        sync_notebooks.expected_notebook(reader_book)


def _committed_notebooks():
    return sorted((REPO / "book").glob("*.ipynb"))


@pytest.mark.parametrize("path", _committed_notebooks(), ids=lambda p: p.name)
def test_committed_notebooks_hold_no_myst_markup(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        for pattern in (sync_notebooks.MYST_ROLE, sync_notebooks.MYST_DIRECTIVE, re.compile(r"^\(\S+\)=\s*$", re.M)):
            found = pattern.search(text)
            assert not found, f"{path.name}: MyST markup in a Markdown cell: {found.group(0)!r}"


def test_exercise_notebook_shows_no_solution():
    jupytext = pytest.importorskip("jupytext")
    source = jupytext.read(REPO / "book" / "exercises.md", fmt="md:myst")
    solutions, inside = [], False
    for cell in source.cells:
        if cell.cell_type == "markdown" and "{solution-start}" in cell.source:
            inside = True
        if cell.cell_type == "markdown" and "{solution-end}" in cell.source:
            inside = False
        elif inside and cell.cell_type == "code":
            solutions.append(cell.source)
    assert len(solutions) >= 8
    nb = json.loads((REPO / "book" / "exercises.ipynb").read_text(encoding="utf-8"))
    shown = ["".join(c["source"]) for c in nb["cells"]]
    assert not [s for s in solutions if s in shown], "solution code cells in the reader's exercise notebook"
    assert not any("0.25 ** 10" in s for s in shown)
    exercises = sum(s.count("{exercise}") for s in (c.source for c in source.cells))
    headings = sum(len(re.findall(r"^### Exercise \d+", s, re.M)) for s in shown)
    links = sum("solution is on" in s for s in shown)
    assert headings == exercises == links == 8


def _paragraph_with_math(text_after: str):
    from docutils import nodes
    from docutils.utils import new_document
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser

    document = new_document("test", get_default_settings(Parser))
    para = nodes.paragraph("", "", nodes.Text("with "), nodes.math("m = 128", "m = 128"), nodes.Text(text_after))
    document += para
    return document, para


@pytest.mark.parametrize("after, glued, rest", [(". The rest", ".", " The rest"), (".", ".", None),
                                                ("), then", "),", " then"), (" and more", None, " and more")])
def test_a_formula_keeps_its_punctuation(after, glued, rest):
    """Punctuation right after an inline formula joins it in a no-wrap span; other text stays."""
    from docutils import nodes

    document, para = _paragraph_with_math(after)
    transform = book_html.MathKeepsItsPunctuation(document)
    transform.run()
    spans = list(para.findall(nodes.inline))
    if glued is None:
        assert not spans and para.astext() == "with m = 128" + after
        return
    (span,) = spans
    assert span["classes"] == ["math-nowrap"]
    assert isinstance(span[0], nodes.math) and span[1].astext() == glued
    assert para.astext() == "with m = 128" + after
    tail = para[para.index(span) + 1:]
    assert (tail[0].astext() if tail else None) == rest
