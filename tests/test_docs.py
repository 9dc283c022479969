"""The documentation stays true: every command in README with an example, every module docstring
naming only functions (and files) that exist, and the engine the only owner of the archive."""

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import harvest
from harvest.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MODULES = sorted(m.name for m in pkgutil.walk_packages(harvest.__path__, "harvest.") if m.name != "harvest.__main__")
LISTED = re.compile(r"^([a-z_][a-z0-9_]*(?:/[a-z_][a-z0-9_]*)*) {2,}\S")  # "name   what it does" lines
DOTTED = re.compile(r"\bharvest(?:\.[a-z_][a-z0-9_]*)+")
PATHS = re.compile(r"\bharvest/[\w/]+\.py\b")


def examples() -> str:
    return "\n".join(re.findall(r"```sh\n(.*?)```", README, flags=re.S))


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_an_example_in_the_readme(command):
    assert re.search(rf"(^|\|\s*)harvest {re.escape(command)}\b", examples(), flags=re.M), \
        f"README has no example of `harvest {command}`"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


@pytest.mark.parametrize("name", MODULES)
def test_module_docstrings_name_only_what_exists(name):
    module = importlib.import_module(name)
    doc = module.__doc__ or ""
    assert doc.strip(), f"{name} has no docstring"
    for line in doc.splitlines():
        listed = LISTED.match(line)
        if listed:
            for function in listed.group(1).split("/"):
                assert hasattr(module, function), f"{name}'s docstring lists {function}, which it does not define"
    for dotted in DOTTED.findall(doc):
        assert _resolves(dotted), f"{name}'s docstring names {dotted}, which does not exist"
    for path in PATHS.findall(doc):
        assert (ROOT / path).is_file(), f"{name}'s docstring names {path}, which does not exist"


def test_only_the_engine_plugs_the_archive_into_the_client():
    for path in (ROOT / "harvest").rglob("*.py"):
        text = path.read_text()
        if path.name != "engine.py":
            assert not re.search(r"\.archive\s*=[^=]", text), f"{path} sets a client's archive"
        assert "on_write" not in text, f"{path} still hooks archive writes"
