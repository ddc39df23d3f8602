#!/usr/bin/env python3
"""Keep each chapter's notebook twin in step with its MyST Markdown source.

An executable chapter of the book is a MyST Markdown notebook, ``book/<name>.md``
(a ``.md`` file whose front matter names the jupytext ``myst`` format). It is the
source: the book builds the page from it. Colab opens only ``.ipynb`` files, so the
chapter's twin ``book/<name>.ipynb`` is generated from the ``.md`` (cells and their
tags, no outputs) and committed next to it. The launch buttons of the book's theme
link to that file, because an ``.ipynb`` with the page's name exists beside the page.
The build itself ignores the ``.ipynb`` files (``exclude_patterns`` in ``_config.yml``).

Usage::

    python tools/sync_notebooks.py            # (re)write every stale or missing .ipynb
    python tools/sync_notebooks.py --check    # exit 1 if any .ipynb is missing or stale
    python tools/sync_notebooks.py book/x.md  # only these chapters

``--check`` also enforces the chapter conventions: each chapter names a kernel, and its
first code cell is exactly :data:`INSTALL_CELL`, tagged ``hide-cell``; and no
``.ipynb`` under ``book/`` is left without its ``.md`` source.

The repository's URL is set in one place, ``repository.url`` in ``_config.yml``: the
theme's launch buttons read it there, the install cell is built from it, and every
other file that repeats it (:data:`URL_SCOPE`: the chapters' clone commands and links,
the assignments' install cells, ...) must agree, which ``--check`` enforces. A fork
moves all of them at once::

    python tools/sync_notebooks.py --repository-url https://github.com/OWNER/NAME

The notebook is the *reader's* notebook: Jupyter and Colab know nothing of MyST, so its
Markdown cells carry none of MyST's roles and directives (:func:`reader_markdown`).
Citations become author-year text linking to the book's bibliography page, ``{doc}`` and
``{ref}`` become links to the published pages, admonitions become block quotes, and an
exercise becomes a heading with its prompt. Solutions are left out of the notebook: each
is replaced by a link to the solution, folded on the book's page (Colab ignores Jupyter's
hidden-cell metadata, and a hidden cell still runs with *Run all*, so a solution kept in the
notebook would sit in plain view of the student, and its checks would pass for them).

Generated notebooks are deterministic (cell ids are derived from the chapter name, the
cell's position and its source), so regenerating an unchanged chapter changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BOOK_DIR = "book"

#: Files (glob patterns from the repository's root) that repeat the repository's URL.
#: Every GitHub repository URL in them must be ``repository.url`` of ``_config.yml``,
#: unless it is listed in :data:`OTHER_REPOSITORIES`.
URL_SCOPE = ("README.md", "book/**/*.md", "assignments/*.ipynb", "assignments/*.txt", "binder/*")
#: GitHub repositories other than this one that the files in :data:`URL_SCOPE` may link to.
OTHER_REPOSITORIES: frozenset[str] = frozenset()
#: A GitHub repository URL (``https://github.com/OWNER/NAME``), as written in prose or code.
GITHUB_REPO_URL = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]*[A-Za-z0-9_-]")
#: Stand-ins that are not URLs of a real repository (``OWNER``/``NAME`` in instructions).
PLACEHOLDER_URLS = frozenset({"https://github.com/OWNER/NAME"})


def repository_url(root: Path = REPO) -> str:
    """``repository.url`` of ``root``'s ``_config.yml`` (this checkout's when ``root`` has none)."""
    import yaml

    config = root / "_config.yml"
    if not config.is_file():
        config = REPO / "_config.yml"
    url = (yaml.safe_load(config.read_text(encoding="utf-8")).get("repository") or {}).get("url", "")
    if not GITHUB_REPO_URL.fullmatch(url or ""):
        raise ValueError(f"{config}: repository.url must be https://github.com/OWNER/NAME, not {url!r}")
    return url


def install_cell(url: str) -> str:
    """The first code cell of every executable chapter, for the repository at ``url``.

    On Colab it installs gru_lib from the repository; elsewhere gru_lib is already
    importable and the cell does nothing. pip's default upgrade strategy keeps an
    installed torch that satisfies gru_lib's ``torch>=2.2``, so the cell never
    reinstalls PyTorch.
    """
    return (
        "try:\n"
        "    import gru_lib\n"
        "except ImportError:\n"
        f'    %pip install -q "gru_lib @ git+{url}"'
    )


#: The install cell of this checkout (see :func:`install_cell`).
INSTALL_CELL = install_cell(repository_url())
#: The tag that folds the install cell away in the HTML pages.
INSTALL_CELL_TAG = "hide-cell"

#: Folders never searched for chapters.
SKIP_PARTS = {"_build", ".ipynb_checkpoints", "__pycache__", "node_modules", ".venv"}


# --------------------------------------------------------------------------- reading


def front_matter(text: str) -> dict:
    """The YAML front matter of a Markdown file, or ``{}`` when it has none."""
    import yaml

    if not text.startswith("---"):
        return {}
    lines = text.splitlines()
    if lines[0].strip() != "---":
        return {}
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            data = yaml.safe_load("\n".join(lines[1:i])) or {}
            return data if isinstance(data, dict) else {}
    return {}


def is_myst_notebook(path: Path) -> bool:
    """True for a ``.md`` file that myst-nb reads as a notebook (same rule as myst-nb)."""
    meta = front_matter(path.read_text(encoding="utf-8"))
    if meta.get("file_format") == "mystnb":
        return True
    rep = (meta.get("jupytext") or {}).get("text_representation") or {}
    return rep.get("format_name") == "myst"


def _cell_id(stem: str, index: int, source: str) -> str:
    digest = hashlib.sha1(f"{stem}\0{index}\0{source}".encode("utf-8")).hexdigest()
    return digest[:12]


def expected_notebook(md_path: Path):
    """The notebook twin of a MyST Markdown chapter, as an ``nbformat`` node (the reader's notebook)."""
    import jupytext

    nb = jupytext.read(md_path, fmt="md:myst")
    nb.metadata.pop("jupytext", None)
    nb.cells = reader_cells(nb.cells, BookLinks.for_chapter(md_path))
    for i, cell in enumerate(nb.cells):
        cell.id = _cell_id(md_path.stem, i, cell.source)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def notebook_text(nb) -> str:
    import jupytext

    text = jupytext.writes(nb, fmt="ipynb")
    return text if text.endswith("\n") else text + "\n"


def _normalise(nb) -> dict:
    """What must agree between a chapter and its twin (ids and formatting may differ)."""
    return {
        "kernelspec": dict(nb.metadata.get("kernelspec") or {}),
        "cells": [
            {
                "cell_type": c.cell_type,
                "source": c.source,
                "metadata": {k: v for k, v in c.metadata.items() if k not in ("execution", "collapsed", "scrolled")},
                "outputs": len(c.get("outputs", []) or []),
                "execution_count": c.get("execution_count"),
            }
            for c in nb.cells
        ],
    }


# --------------------------------------------------------------------------- the reader's notebook


def site_url(url: str) -> str:
    """The published book of the repository at ``url``: GitHub Pages, ``https://OWNER.github.io/NAME/``."""
    owner, name = url.rstrip("/").split("/")[-2:]
    return f"https://{owner.lower()}.github.io/{name}/"


def _strip_braces(text: str) -> str:
    return text.replace("{", "").replace("}", "")


def author_year(entry) -> tuple[str, str]:
    """``("Dey and Salem", "2017")`` for a pybtex entry: one or two surnames, else the first "et al."."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_strip_braces(" ".join(p.prelast_names + p.last_names)) for p in people]
    if "others" in names:
        names = names[: names.index("others")] + ["", ""]  # "and others" reads as et al.
    if not names:
        who = entry.key
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return who, _strip_braces(entry.fields.get("year", "n.d."))


@dataclass
class BookLinks:
    """What a chapter's roles point to: the published pages, the references and the labels."""

    site: str                       # the published book, ending in "/"
    chapter: str                    # the chapter's path from the root, without suffix: "book/mnist"
    citations: dict[str, tuple[str, str]]   # bibtex key -> (authors, year)
    labels: dict[str, str]          # MyST target label -> page path without suffix
    titles: dict[str, str]          # page path without suffix -> its first heading

    @classmethod
    def for_chapter(cls, md_path: Path) -> "BookLinks":
        # The repository's root holds book/; a chapter elsewhere is its own root.
        root = md_path.resolve().parent
        if root.name == BOOK_DIR:
            root = root.parent
        return cls(
            site=site_url(repository_url(root)),
            chapter=md_path.resolve().relative_to(root).with_suffix("").as_posix(),
            citations=_citations(root),
            labels=_labels(root),
            titles=_titles(root),
        )

    def page(self, target: str) -> str:
        """The page path (``book/x``) of a ``{doc}`` target, relative to this chapter or absolute."""
        if target.startswith("/"):
            return target.strip("/")
        parts = self.chapter.split("/")[:-1] + target.split("/")
        out: list[str] = []
        for part in parts:
            if part == "..":
                out.pop()
            elif part not in ("", "."):
                out.append(part)
        return "/".join(out)

    def url(self, page: str, anchor: str = "") -> str:
        return f"{self.site}{page}.html" + (f"#{anchor}" if anchor else "")

    def cite(self, role: str, keys: str) -> str:
        found = []
        for key in (k.strip() for k in keys.split(",")):
            if key not in self.citations:
                raise ValueError(f"{self.chapter}: {{{role}}}`{key}` is not in the bibliography")
            found.append(self.citations[key])
        bib = self.url("book/bibliography")
        if role == "cite:t":
            return "; ".join(f"[{who} ({year})]({bib})" for who, year in found)
        return "(" + "; ".join(f"[{who}, {year}]({bib})" for who, year in found) + ")"


def _citations(root: Path) -> dict[str, tuple[str, str]]:
    import yaml
    from pybtex.database import parse_file

    config_file = root / "_config.yml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {} if config_file.is_file() else {}
    out: dict[str, tuple[str, str]] = {}
    for bib in config.get("bibtex_bibfiles") or []:
        for key, entry in parse_file(str(root / bib), bib_format="bibtex").entries.items():
            out[key] = author_year(entry)
    return out


_TARGET = re.compile(r"^\(([A-Za-z0-9_.:-]+)\)=\s*$", re.MULTILINE)
_LABEL_OPTION = re.compile(r"^```\{(?:exercise|solution-start)\}.*\n:label:\s*(\S+)", re.MULTILINE)


def _book_pages(root: Path) -> list[Path]:
    book = root / BOOK_DIR
    return sorted(p for p in book.rglob("*.md") if not SKIP_PARTS.intersection(p.relative_to(root).parts))


def _labels(root: Path) -> dict[str, str]:
    labels = {}
    for path in _book_pages(root):
        text = path.read_text(encoding="utf-8")
        for label in _TARGET.findall(text) + _LABEL_OPTION.findall(text):
            labels[label] = path.relative_to(root).with_suffix("").as_posix()
    return labels


def _titles(root: Path) -> dict[str, str]:
    titles = {}
    for path in _book_pages(root):
        heading = re.search(r"^# (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
        if heading:
            titles[path.relative_to(root).with_suffix("").as_posix()] = heading.group(1).strip()
    return titles


#: A MyST role: ``{name}`content```.
MYST_ROLE = re.compile(r"\{([a-z][a-z0-9:_-]*)\}`([^`]*)`")
#: The opening line of a MyST directive: ```` ```{name} args ```` or ``:::{name} args``.
MYST_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{([a-z][a-z0-9:_-]*)\}(.*)$", re.MULTILINE)
_TITLED = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.DOTALL)
_ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger",
                "error", "seealso", "admonition", "margin", "sidebar", "topic"}


def _role(name: str, content: str, links: BookLinks) -> str:
    if name in ("cite", "cite:p", "cite:t"):
        return links.cite("cite:t" if name == "cite:t" else "cite:p", content)
    titled = _TITLED.match(content)
    text, target = (titled.group(1), titled.group(2)) if titled else (None, content)
    if name == "doc":
        page = links.page(target)
        return f"[{text or links.titles.get(page, target)}]({links.url(page)})"
    if name in ("ref", "numref"):
        if target not in links.labels:
            raise ValueError(f"{links.chapter}: {{{name}}}`{content}`: no such label in the book")
        return f"[{text or target}]({links.url(links.labels[target], target)})"
    if name in ("math", "eq"):
        return f"${content}$" if name == "math" else f"({content})"
    if name in ("fas", "fab", "far", "octicon"):
        return ""
    # Any other role: its text, as plain code, which Jupyter shows as it is.
    return f"`{text or content}`"


def _directive_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    options = {}
    while body and re.match(r"^:[\w-]+:", body[0]):
        key, _, value = body.pop(0)[1:].partition(":")
        options[key] = value.strip()
    if body and not body[0].strip():
        body.pop(0)
    return options, body


def _close(fence: str) -> re.Pattern:
    return re.compile("^" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")


class _Reader:
    """Rewrites the Markdown cells of one chapter, cell after cell (it keeps the exercise count)."""

    def __init__(self, links: BookLinks):
        self.links = links
        self.exercises = 0

    def roles(self, text: str) -> str:
        return MYST_ROLE.sub(lambda m: _role(m.group(1), m.group(2), self.links), text)

    def markdown(self, text: str) -> str:
        text = _TARGET.sub("", text)
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            m = MYST_DIRECTIVE.match(lines[i])
            if not m:
                out.append(lines[i])
                i += 1
                continue
            fence, name, arg = m.group(1), m.group(2), m.group(3).strip()
            close = _close(fence)
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            options, body = _directive_options(lines[i + 1 : j])
            out.extend(self.directive(name, arg, options, self.markdown("\n".join(body))))
            i = j + 1
        return self.roles("\n".join(out))

    def directive(self, name: str, arg: str, options: dict, body: str) -> list[str]:
        if name == "exercise":
            self.exercises += 1
            title = f"Exercise {self.exercises}" + (f": {self.roles(arg)}" if arg else "")
            return [f"### {title}", "", body]
        if name in _ADMONITIONS or name == "dropdown":
            title = self.roles(arg) or name.capitalize()
            quoted = "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
            return [f"> **{title}**", ">", quoted]
        if name in ("figure", "image"):
            return [f"![{body.strip() or arg}]({arg})"]
        # Anything else (tables, math, ...) keeps its content only.
        return [body]

    def solution_link(self, label: str) -> str:
        url = self.links.url(self.links.chapter, label)
        return (f"*The solution is on [the book's page]({url}), folded under the exercise: "
                "try the exercise first.*")


def reader_cells(cells: list, links: BookLinks) -> list:
    """The cells of the reader's notebook: MyST Markdown rewritten, solutions left out.

    A solution runs from a Markdown cell holding ```` ```{solution-start} label ```` to
    the one holding ```` ```{solution-end} ````; what lies between, code cells included,
    is replaced by one link to the solution on the book's page.
    """
    reader = _Reader(links)
    out = []
    in_solution = False
    for cell in cells:
        if cell.cell_type != "markdown":
            if not in_solution:
                out.append(cell)
            continue
        text = cell.source
        kept: list[str] = []
        for part in re.split(r"(^```\{solution-(?:start|end)\}.*\n(?::[\w-]+:.*\n)*```\s*$)", text,
                             flags=re.MULTILINE):
            start = re.match(r"```\{solution-(start|end)\}\s*(\S*)", part)
            if start and start.group(1) == "start":
                in_solution = True
                kept.append(reader.solution_link(start.group(2)))
            elif start:
                in_solution = False
            elif not in_solution:
                kept.append(part)
        source = reader.markdown("".join(kept)).strip()
        source = re.sub(r"\n{3,}", "\n\n", source)
        if source:
            cell.source = source
            out.append(cell)
    return out


# --------------------------------------------------------------------------- checking


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    chapters: list[Path] = field(default_factory=list)

    def problem(self, msg: str) -> None:
        self.problems.append(msg)


def rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def find_chapters(root: Path) -> list[Path]:
    """Every MyST Markdown notebook under ``book/``."""
    book = root / BOOK_DIR
    if not book.is_dir():
        return []
    found = []
    for path in sorted(book.rglob("*.md")):
        if SKIP_PARTS.intersection(path.relative_to(root).parts):
            continue
        if is_myst_notebook(path):
            found.append(path)
    return found


def find_orphans(root: Path) -> list[Path]:
    """``.ipynb`` files under ``book/`` without a MyST Markdown source beside them."""
    book = root / BOOK_DIR
    if not book.is_dir():
        return []
    orphans = []
    for path in sorted(book.rglob("*.ipynb")):
        if SKIP_PARTS.intersection(path.relative_to(root).parts):
            continue
        md = path.with_suffix(".md")
        if not (md.is_file() and is_myst_notebook(md)):
            orphans.append(path)
    return orphans


def check_conventions(md_path: Path, nb, root: Path, report: Report) -> None:
    name = rel(md_path, root)
    kernel = nb.metadata.get("kernelspec") or {}
    if not kernel.get("name"):
        report.problem(f"{name}: the front matter names no kernelspec (launch buttons need one)")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code:
        return
    first = code[0]
    expected = install_cell(repository_url(root))
    if first.source.strip() != expected:
        report.problem(
            f"{name}: the first code cell must be the install cell, exactly:\n{expected}"
        )
    if INSTALL_CELL_TAG not in (first.metadata.get("tags") or []):
        report.problem(f"{name}: the first code cell must be tagged {INSTALL_CELL_TAG!r}")


def url_files(root: Path) -> list[Path]:
    """The files of :data:`URL_SCOPE` under ``root``."""
    found: set[Path] = set()
    for pattern in URL_SCOPE:
        for path in root.glob(pattern):
            if path.is_file() and not SKIP_PARTS.intersection(path.relative_to(root).parts):
                found.add(path)
    return sorted(found)


def check_repository_urls(root: Path, report: Report) -> None:
    """Every GitHub repository URL in :data:`URL_SCOPE` is ``repository.url`` (or a listed other)."""
    url = repository_url(root)
    allowed = {url} | OTHER_REPOSITORIES | PLACEHOLDER_URLS
    for path in url_files(root):
        text = path.read_text(encoding="utf-8")
        for found in sorted(set(GITHUB_REPO_URL.findall(text)) - allowed):
            report.problem(
                f"{rel(path, root)}: links to {found}, but the repository is {url} (repository.url in "
                "_config.yml); fix: python tools/sync_notebooks.py --repository-url URL, or list another "
                "project's repository in OTHER_REPOSITORIES"
            )


def set_repository_url(root: Path, new: str) -> list[Path]:
    """Move ``repository.url`` and every file that repeats it to ``new``; return the files changed."""
    if not GITHUB_REPO_URL.fullmatch(new):
        raise ValueError(f"not a GitHub repository URL (https://github.com/OWNER/NAME): {new!r}")
    old = repository_url(root)
    changed = []
    config = root / "_config.yml"
    text = config.read_text(encoding="utf-8")
    line = re.compile(r"^(\s*url:\s*)" + re.escape(old) + r"\s*$", flags=re.MULTILINE)
    if len(line.findall(text)) != 1:
        raise ValueError(f"{config}: expected one line `url: {old}`")
    config.write_text(line.sub(lambda m: m.group(1) + new, text), encoding="utf-8")
    changed.append(config)
    for path in url_files(root):
        text = path.read_text(encoding="utf-8")
        # Whole URLs only: https://github.com/a/b must not also rewrite https://github.com/a/bc.
        pattern = re.compile(re.escape(old) + r"(?![A-Za-z0-9_.-])")
        if pattern.search(text):
            path.write_text(pattern.sub(new, text), encoding="utf-8")
            changed.append(path)
    return changed


def sync(root: Path, only: list[Path] | None = None, check: bool = False) -> Report:
    import nbformat

    report = Report()
    chapters = find_chapters(root)
    if only:
        wanted = {p.resolve() for p in only}
        for p in wanted:
            if p.suffix != ".md" or not p.is_file() or not is_myst_notebook(p):
                report.problem(f"{rel(p, root)}: not a MyST Markdown notebook")
        chapters = [c for c in chapters if c.resolve() in wanted]
    report.chapters = chapters

    for md in chapters:
        nb = expected_notebook(md)
        check_conventions(md, nb, root, report)
        twin = md.with_suffix(".ipynb")
        if twin.is_file():
            try:
                current = nbformat.reads(twin.read_text(encoding="utf-8"), as_version=4)
                in_step = _normalise(current) == _normalise(nb)
            except Exception as exc:  # unreadable notebook: regenerate it
                in_step = False
                if check:
                    report.problem(f"{rel(twin, root)}: unreadable ({exc})")
                    continue
            if in_step:
                continue
            if check:
                report.problem(f"{rel(twin, root)}: out of step with {rel(md, root)}")
                continue
        elif check:
            report.problem(f"{rel(twin, root)}: missing (generated from {rel(md, root)})")
            continue
        twin.write_text(notebook_text(nb), encoding="utf-8")
        report.written.append(twin)

    if not only:
        check_repository_urls(root, report)
        for orphan in find_orphans(root):
            report.problem(
                f"{rel(orphan, root)}: no MyST Markdown source {rel(orphan.with_suffix('.md'), root)}; "
                "chapters are written as .md (convert once with `jupytext --to myst`), "
                "and the build ignores .ipynb files under book/"
            )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="chapters (.md) to sync; default: all")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on any problem")
    parser.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    parser.add_argument("--repository-url", metavar="URL",
                        help="move the book to the GitHub repository URL (a fork): rewrite repository.url in "
                             "_config.yml and every file that repeats it, then regenerate the notebooks")
    args = parser.parse_args(argv)
    if args.repository_url:
        if args.check:
            parser.error("--repository-url changes files; it cannot be combined with --check")
        try:
            changed = set_repository_url(args.root, args.repository_url)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for path in changed:
            print(f"rewrote {rel(path, args.root)}")

    report = sync(args.root, args.paths or None, check=args.check)
    for path in report.written:
        print(f"wrote {rel(path, args.root)}")
    if report.problems:
        for msg in report.problems:
            print(f"error: {msg}", file=sys.stderr)
        if args.check:
            print("fix: python tools/sync_notebooks.py  (then commit the .ipynb files)", file=sys.stderr)
        return 1
    n = len(report.chapters)
    state = "in step" if args.check else "synced"
    print(f"{n} chapter notebook{'s' if n != 1 else ''} {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
