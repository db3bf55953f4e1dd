"""What the README and the install promise: every path it names exists, every command it shows
runs, its Python snippet runs, and the two environments of ``make`` stay apart without
warnings from the package's own metadata."""

from __future__ import annotations

import ast
import contextlib
import glob
import io
import re
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ridgeline.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROSE = re.sub(r"```.*?```", "", README, flags=re.S)   # the text outside fenced blocks

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


@pytest.fixture(autouse=True)
def _no_third_party_plugins(monkeypatch):
    monkeypatch.setenv("RIDGELINE_NO_PLUGINS", "1")
    for name in ("RIDGELINE_REGISTRY", "RIDGELINE_DISABLE_PLUGINS", "RIDGELINE_DEBUG"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- paths

# a file or folder of the repository: segments joined by '/', ending in a file name with an
# extension, a glob, or a '/' (units such as "TB/s" or "tokens/s" end in none of these)
_PATH = re.compile(r"^[\w.-]+(/[\w.*-]+)*(\.(py|md|toml|json|txt|cfg)|/\*[\w.]*|/)$")


def _mentioned_paths() -> list[str]:
    words = []
    for span in re.findall(r"`([^`]+)`", PROSE):
        words += span.split()
    words += re.findall(r"\]\(([^)\s]+)\)", README)            # markdown links
    paths = []
    for word in words:
        word = word.strip("\"'(),;")
        if word.startswith(("http:", "https:", "./", "~")) or "/" not in word:
            continue
        if not _PATH.match(word):
            continue
        if any(part.isupper() for part in word.split("/")):  # a placeholder: DIR/models/...
            continue
        if word.startswith(".venv"):                            # made by make, not shipped
            continue
        paths.append(word)
    return list(dict.fromkeys(paths))


def test_the_readme_names_paths():
    paths = _mentioned_paths()
    assert len(paths) >= 10, paths                # the extraction itself works
    assert "docs/speed.md" in paths and "core/hookspecs.py" in paths


@pytest.mark.parametrize("path", _mentioned_paths())
def test_every_path_the_readme_names_exists(path):
    assert glob.glob(str(ROOT / path)), f"README.md names {path}, which does not exist"


# --------------------------------------------------------------------------- commands


def _commands() -> list[str]:
    out = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("ridgeline "):
                out.append(" ".join(line.split()))
    for span in re.findall(r"`([^`]+)`", PROSE):
        span = " ".join(span.split())
        if span.startswith("ridgeline "):
            out.append(span)
    # placeholders ("...", DIR, <command>, [FILE]) stand for what the reader fills in
    return [c for c in dict.fromkeys(out)
            if not any(p in c for p in ("...", "DIR", "<", "["))]


def test_the_readme_shows_commands():
    assert len(_commands()) >= 15


@pytest.mark.parametrize("command", _commands())
def test_every_command_the_readme_shows_runs(command):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(shlex.split(command)[1:])
        except SystemExit as exc:  # --help
            code = exc.code
    assert code == 0, err.getvalue()
    assert out.getvalue().strip()


# --------------------------------------------------------------------------- the Python snippet


def test_the_readme_python_snippet_runs(tmp_path):
    snippet = re.search(r"```python\n(.*?)```", README, flags=re.S).group(1)
    assert "ridgeline.distill(" in snippet
    script = tmp_path / "snippet.py"            # a file, so a traceback shows the line
    script.write_text(snippet, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path,
                            env={"RIDGELINE_NO_PLUGINS": "1", "PATH": "/usr/bin:/bin"})
    if result.returncode != 0:
        import ridgeline
        ridgeline.infer("llama-3-8b", on="h100")
        shadowed = isinstance(ridgeline.scenario, types.ModuleType)
        if shadowed and "'module' object is not callable" in result.stderr and \
                "ridgeline.scenario(" in result.stderr:
            # issue 10, item 3: the submodule ridgeline.scenario shadows the function after
            # the first estimate; only the snippet's `ridgeline.scenario(...)` line meets it
            pytest.xfail("ridgeline.scenario is shadowed by its submodule (issue 10, item 3)")
    assert result.returncode == 0, result.stderr


def test_the_distill_line_reproduces_the_excerpt_beside_it():
    import ridgeline
    snippet = re.search(r"```python\n(.*?)```", README, flags=re.S).group(1)
    call = next(node.value for node in ast.parse(snippet).body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and ast.unparse(node.value.func) == "ridgeline.distill")
    v = eval(compile(ast.Expression(call), "README.md", "eval"), {"ridgeline": ridgeline}).values
    assert "making it: 340k USD" in README and "5.04x cheaper" in README
    assert "breaks even after 2.9 T served tokens" in README
    assert round(v["making_cost_usd"], -4) == 340_000
    assert round(v["teacher_cost_per_mtok_usd"] / v["student_cost_per_mtok_usd"], 2) == 5.04
    assert round(v["break_even_tokens"] / 1e12, 1) == 2.9


# --------------------------------------------------------------------------- the install


def _pyproject(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [ROOT / "pyproject.toml",
                                  ROOT / "examples" / "acme-ridgeline" / "pyproject.toml"])
def test_license_is_an_spdx_string(path):
    data = _pyproject(path)
    assert data["project"]["license"] == "Apache-2.0"   # a table is deprecated by setuptools
    requires = data["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+).*", r) and
               int(re.fullmatch(r"setuptools>=(\d+).*", r).group(1)) >= 77 for r in requires)


def test_every_folder_of_the_package_is_declared():
    """setuptools warns about (and one day drops) folders inside a package that are not
    declared: every folder under a package's directory, data folders included."""
    setup = _pyproject(ROOT / "pyproject.toml")["tool"]["setuptools"]
    declared = set(setup["packages"])
    for package, folder in setup["package-dir"].items():
        for sub in (ROOT / folder).rglob("*"):
            if not sub.is_dir() or sub.name == "__pycache__" or \
                    not any(p.is_file() for p in sub.iterdir()):
                continue
            name = ".".join([package, *sub.relative_to(ROOT / folder).parts])
            assert name in declared, f"{sub} is not declared as {name}"
    data = setup["package-data"]
    for name in ("ridgeline.registry.accelerators", "ridgeline.registry.models",
                 "ridgeline.registry.validation"):
        assert data[name] == ["*.toml"], name


def _dry_run(target: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(["make", "-n", "-B", target], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_demo_and_make_test_use_separate_environments():
    demo, test = _dry_run("demo"), _dry_run("test")
    assert "acme-ridgeline" not in demo                 # no fictional chip among real ones
    assert "acme-ridgeline" in test
    assert "python3 -m venv .venv\n" in demo and "python3 -m venv .venv-test\n" in test
    assert ".venv-test" not in demo and ".venv/" not in test
