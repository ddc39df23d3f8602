"""Result files record where they came from without naming the machine's directories."""

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
