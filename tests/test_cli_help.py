"""Every command the README shows says, in its `--help`, what each of its options defaults to.

The scripts run in this process (`runpy`, as `python script.py --help` runs
them), so TensorFlow is imported once for all of them.
"""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

from ctrkit.cli import main as ctrkit_main

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in ("examples", "benchmarks")
    for p in (ROOT / folder).glob("*.py")
)
MODULES = ["loadtest.naive_server"]
COMMANDS = ["train", "serve", "bench"]


def options_without_default(text: str) -> list[str]:
    """The options of an argparse help text that take a value and do not say their default."""
    entries: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if re.match(r"^  -", line):
            current = [line.strip()]
            entries.append(current)
        elif current is not None and re.match(r"^ {3,}\S", line):
            current.append(line.strip())
        else:
            current = None
    missing = []
    for entry in entries:
        head = re.split(r"\s{2,}", entry[0], maxsplit=1)[0]
        takes_value = any(not token.startswith("-") for token in head.replace(",", " ").split())
        if takes_value and "default" not in " ".join(entry).lower():
            missing.append(head)
    return missing


def help_text(run, capsys) -> str:
    with pytest.raises(SystemExit) as stopped:
        run()
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert "options:" in text
    return text


def test_the_check_finds_an_option_without_its_default():
    text = "options:\n  -h, --help  show this help\n  --rows N    rows to use\n  --hash      hash\n  --epochs N  epochs (default: 3)\n"
    assert options_without_default(text) == ["--rows N"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help_shows_defaults(script, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    text = help_text(lambda: runpy.run_path(str(ROOT / script), run_name="__main__"), capsys)
    assert options_without_default(text) == []


@pytest.mark.parametrize("module", MODULES)
def test_module_help_shows_defaults(module, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    text = help_text(lambda: runpy.run_module(module, run_name="__main__", alter_sys=True), capsys)
    assert options_without_default(text) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_ctrkit_command_help_shows_defaults(command, capsys):
    text = help_text(lambda: ctrkit_main([command, "--help"]), capsys)
    assert options_without_default(text) == []
