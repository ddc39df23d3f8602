"""Result files record where they came from without naming the machine's directories."""

import json
from pathlib import Path

import torch

from gru_lib.files import portable_path, provenance

ROOT = Path(__file__).resolve().parents[1]


def test_paths_beside_the_checkout_become_relative_to_it():
    assert portable_path(ROOT / "results" / "paper") == str(Path("results") / "paper")
    assert portable_path(ROOT.parent / "shared" / "data") == str(Path("..") / "shared" / "data")
    assert portable_path("results/quick") == "results/quick"  # relative paths stay as given
    assert portable_path(Path.home() / "mnist") .startswith("~")


def test_the_recorded_command_is_portable():
    prov = provenance(torch.device("cpu"), ["python", "-m", "gru_lib", "grid", "--out-dir",
                                            str(ROOT / "results" / "paper"), f"--data-dir={ROOT.parent / 'data'}"])
    assert prov["command"] == ["python", "-m", "gru_lib", "grid", "--out-dir", str(Path("results") / "paper"),
                               f"--data-dir={Path('..') / 'data'}"]
    assert not any(str(ROOT) in str(v) for v in prov.values())


# ----------------------------------------------------------------------------- the commit of the loaded code
def test_a_long_process_records_the_commit_it_loaded_while_head_moves_on(tmp_path, monkeypatch):
    """A grid trains stack after stack for hours while the checkout moves on: every
    result must name the commit of the code the process loaded, not the HEAD of the day."""
    from gru_lib import files
    from gru_lib.train import train_stack
    from test_train import config, toy_data

    loaded = files.provenance(torch.device("cpu"))["git_commit"]
    later = iter(f"{n:040x}\n" for n in range(1, 1000))
    monkeypatch.setattr(files, "_git", lambda *args: next(later))  # HEAD moves at every look
    data = toy_data()
    for lr in (1e-3, 3e-3):  # two stacks one after the other, as a grid trains them
        configs = [config(lr=lr, seed=s, epochs=1) for s in (0, 1)]
        train_stack(configs, data, outs=[tmp_path / f"{lr}_{s}.json" for s in (0, 1)], progress=False)
    recorded = [json.loads(p.read_text())["provenance"] for p in sorted(tmp_path.glob("*.json"))]
    assert len(recorded) == 4
    assert {r["git_commit"] for r in recorded} == {loaded}
    assert {s["git_commit"] for r in recorded for s in r["sessions"]} == {loaded}


def test_the_revision_is_read_from_git_unless_the_environment_names_it(monkeypatch):
    from gru_lib import files

    monkeypatch.delenv(files.SOURCE_COMMIT_ENV, raising=False)
    answers = {"rev-parse": "0123456789abcdef0123456789abcdef01234567\n", "status": " M gru_lib/cell.py\n"}
    monkeypatch.setattr(files, "_git", lambda cmd, *rest: answers[cmd])
    assert files._source_revision() == ("0123456789abcdef0123456789abcdef01234567", True)
    answers["status"] = ""
    assert files._source_revision()[1] is False
    # a copy of the tree on another machine: git there may know another commit, or none
    monkeypatch.setenv(files.SOURCE_COMMIT_ENV, " 72F8E7D\n")
    assert files._source_revision() == ("72f8e7d", None)
    for bad in ("main", "72f8e7", "g" * 40, "0" * 41, ""):
        monkeypatch.setenv(files.SOURCE_COMMIT_ENV, bad)
        assert files._source_revision() == ("0123456789abcdef0123456789abcdef01234567", False), bad
    monkeypatch.setattr(files, "_git", lambda *args: None)
    assert files._source_revision() == (None, None)
