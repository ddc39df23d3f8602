"""The examples in gru_lib's docstrings run and print what they say.

The API reference shows these examples; running them here keeps them true.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gru_lib

MODULES = sorted(
    name
    for info in pkgutil.walk_packages(gru_lib.__path__, prefix="gru_lib.")
    if not (name := info.name).endswith("__main__")
)


def _examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module) if t.examples]


def test_there_are_examples_to_run():
    # guards against the finder silently collecting nothing
    assert sum(len(_examples(m)) for m in MODULES) >= 5


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in _examples(module_name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {module_name}"
