"""Tests about the tests and the docs (datasette's meta-tests, adapted).

- every hook in ``ridgeline.hookspecs`` is documented: a docstring with an example and
  ``versionadded``, and its exact signature in README.md's plugin guide;
- every hook has a ``test_hook_<name>`` test;
- every built-in plugin imports from ridgeline only the public plugin API
  (``ridgeline.plugin`` and ``ridgeline.hookspecs``), so third parties can do what it does.
"""

import ast
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

from ridgeline import hookspecs

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
README = ROOT / "README.md"

HOOKS = sorted(name for name, obj in vars(hookspecs).items()
               if name.startswith("ridgeline_") and callable(obj)
               and hasattr(obj, "ridgeline_spec"))

#: what a built-in plugin may import from ridgeline (besides its fellow plugins).
PUBLIC_MODULES = {"ridgeline.plugin", "ridgeline.hookspecs"}


def test_hookspecs_are_found():
    assert "ridgeline_register_formulas" in HOOKS and len(HOOKS) >= 4


def _signature(name):
    return f"{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_docstring_has_example_and_versionadded(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Example" in doc, f"{hook}: docstring needs an Example block"
    assert "versionadded" in doc, f"{hook}: docstring needs '.. versionadded::'"


def _plugin_guide():
    """README.md's plugin section (from its first heading that mentions plugins), or ''."""
    if not README.exists():
        return ""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^#+ .*plugin.*$", text, flags=re.IGNORECASE | re.MULTILINE)
    return text[match.start():] if match else ""


@pytest.mark.xfail("ridgeline_register" not in _plugin_guide(), strict=False,
                   reason="README plugin guide pending")
@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_in_readme_with_its_exact_signature(hook):
    signature = _signature(hook)
    assert signature in _plugin_guide(), \
        f"README.md's plugin section should show {signature}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    pattern = re.compile(rf"^def test_hook_{hook}\b", re.MULTILINE)
    found = [p.name for p in TESTS.glob("test_*.py")
             if pattern.search(p.read_text(encoding="utf-8"))]
    assert found, f"write a test named test_hook_{hook} (see tests/test_plugins.py)"


def _plugin_files():
    spec = importlib.util.find_spec("ridgeline.plugins")
    roots = [Path(p) for p in spec.submodule_search_locations]
    return sorted(p for root in roots for p in root.rglob("*.py")), roots


PLUGIN_FILES, PLUGIN_ROOTS = _plugin_files()


def _module_name(path):
    for root in PLUGIN_ROOTS:
        if root in path.parents:
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join(("ridgeline", "plugins") + parts)
    raise AssertionError(path)


def _imports(path, source=None):
    """Absolute names of the modules (or ``ridgeline`` members) a plugin file imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if source is None:
        source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "ridgeline":           # from ridgeline import plugin, hookimpl
                for alias in node.names:
                    yield node.lineno, f"ridgeline.{alias.name}"
            else:
                yield node.lineno, target


def _allowed(name):
    if not (name == "ridgeline" or name.startswith("ridgeline.")):
        return True                             # numpy, math, importlib.resources ...
    if name in PUBLIC_MODULES or any(name.startswith(m + ".") for m in PUBLIC_MODULES):
        return True
    return name == "ridgeline.plugins" or name.startswith("ridgeline.plugins.")


def test_plugin_files_are_found():
    assert any(p.name == "roofline.py" for p in PLUGIN_FILES)


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(_module_name(p)))
def test_builtin_plugin_imports_only_the_public_plugin_api(path):
    private = [f"line {line}: {name}" for line, name in _imports(path) if not _allowed(name)]
    assert not private, (f"{path.name} imports ridgeline internals; use ridgeline.plugin "
                         f"(add what is missing there): " + "; ".join(private))


def test_the_import_check_catches_private_imports():
    # the checker itself, on a file that pretends to live in plugins/hardware/
    probe = PLUGIN_ROOTS[0] / "hardware" / "probe.py"
    source = ("from ...engine import estimate\n"       # climbs out of plugins: private
              "from ridgeline import plugin\n"
              "from . import roofline\n"
              "import ridgeline.units\n"
              "import numpy as np\n")
    names = [name for _, name in _imports(probe, source)]
    assert names == ["ridgeline.engine", "ridgeline.plugin", "ridgeline.plugins.hardware",
                     "ridgeline.units", "numpy"]
    assert [_allowed(n) for n in names] == [False, True, True, False, True]
