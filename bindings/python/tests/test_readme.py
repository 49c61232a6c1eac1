"""The Python examples of the READMEs run as written."""

import re
from pathlib import Path

import pytest
from conftest import optional_module

HERE = Path(__file__).resolve().parent
READMES = [HERE.parent.parent.parent / "README.md", HERE.parent / "README.md"]


def python_blocks(path: Path) -> list:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("readme", READMES, ids=["workspace", "package"])
def test_readme_examples_run(
    readme: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Paths in the examples are relative to the README's folder.
    monkeypatch.chdir(readme.parent)
    blocks = python_blocks(readme)
    assert blocks, f"no Python example in {readme}"
    for block in blocks:
        if "plotting" in block:
            optional_module("matplotlib", "pip install 'crm-sdk[plot]'").use("Agg")
        exec(compile(block, str(readme), "exec"), {"__name__": "readme"})
    if readme == READMES[0]:
        out = capsys.readouterr().out
        assert "RT00000001" in out and "lifetime_value" in out
        assert "se(coef)" in out and "CHAMPION" in out
