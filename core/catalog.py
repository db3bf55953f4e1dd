"""The catalog: everything the plugins registered, built once by pluggy.

A :class:`Catalog` is made by :func:`build_catalog` (or :func:`default_catalog`, which caches
one): it creates a fresh plugin manager, registers the built-in plugins explicitly, loads
third-party plugins from the ``ridgeline`` entry-point group, adds plugin objects the caller
passes and the user's registry folders, then calls each registration hook once. After that,
pluggy is never touched again: estimates use the catalog's plain mappings.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Optional

import pluggy
from attrs import field, frozen

from . import hookspecs
from ._arguments import expected, path as _path, shown
from .accelerator import Accelerator
from .errors import (ConflictError, PluginError, RegistryError, RidgelineError,
                     ScenarioError, UnknownNameError)
from .formula import Formula
from .hf_config import ConfigReader
from .model import Architecture, AttentionVariant, Model, check_options

#: built-in plugins, registered explicitly (never through entry points).
BUILTIN_PLUGINS = (
    "ridgeline.plugins.registry_data",
    "ridgeline.plugins.architectures.dense",
    "ridgeline.plugins.architectures.dense_params",
    "ridgeline.plugins.architectures.dense_operations",
    "ridgeline.plugins.architectures.mla",
    "ridgeline.plugins.architectures.distilled",
    "ridgeline.plugins.architectures.moe",
    "ridgeline.plugins.architectures.moe_params",
    "ridgeline.plugins.architectures.moe_operations",
    "ridgeline.plugins.architectures.ssm",
    "ridgeline.plugins.architectures.ssm_params",
    "ridgeline.plugins.architectures.ssm_operations",
    "ridgeline.plugins.architectures.readers_llama",
    "ridgeline.plugins.architectures.readers_gpt",
    "ridgeline.plugins.architectures.readers_moe",
    "ridgeline.plugins.architectures.readers_deepseek",
    "ridgeline.plugins.architectures.ssm_readers",
    "ridgeline.plugins.hardware.roofline",
    "ridgeline.plugins.hardware.memory",
    "ridgeline.plugins.hardware.wafer_scale",
    "ridgeline.plugins.hardware.asic",
    "ridgeline.plugins.hardware.lpu",
    "ridgeline.plugins.hardware.tpu",
    "ridgeline.plugins.parallel.collectives",
    "ridgeline.plugins.parallel.training_plan",
    "ridgeline.plugins.parallel.offload",
    "ridgeline.plugins.parallel.expert_parallel",
    "ridgeline.plugins.workloads.inference",
    "ridgeline.plugins.workloads.speculative",
    "ridgeline.plugins.workloads.serving",
    "ridgeline.plugins.workloads.training",
    "ridgeline.plugins.workloads.economics",
    "ridgeline.plugins.workloads.finetune",
)

ENTRY_POINT_GROUP = "ridgeline"
DISABLE_ENV = "RIDGELINE_DISABLE_PLUGINS"
NO_PLUGINS_ENV = "RIDGELINE_NO_PLUGINS"
REGISTRY_ENV = "RIDGELINE_REGISTRY"
TRACE_ENV = "RIDGELINE_TRACE_PLUGINS"

HOOKS = ("ridgeline_register_architectures", "ridgeline_register_accelerators",
         "ridgeline_register_models", "ridgeline_register_formulas",
         "ridgeline_register_config_readers")


@frozen
class PluginInfo:
    """A plugin in a catalog: where it came from and what it registered."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    registered: Mapping[str, tuple[str, ...]]
    """Ids registered, by kind (``accelerators``, ``models``, ``architectures``, ``formulas``)."""


@frozen
class Catalog:
    """Accelerators, models, architectures and formulas, with who registered each."""

    accelerators: Mapping[str, Accelerator]
    models: Mapping[str, Model]
    architectures: Mapping[str, Architecture]
    formulas: Mapping[str, tuple[Formula, ...]]
    """Formulas by the quantity they produce, most specific first."""

    providers: Mapping[tuple[str, str], str]
    """``(kind, id) -> plugin name``."""

    plugins: tuple[PluginInfo, ...]
    _aliases: Mapping[tuple[str, str], str] = field(alias="aliases")
    attention_variants: Mapping[str, AttentionVariant] = field(factory=dict)
    """Attention variants by name (``mla``); ``standard`` is built in and not listed."""
    config_readers: Mapping[str, ConfigReader] = field(factory=dict)
    """Config readers by the ``model_type`` they read (``llama``, ``gpt_bigcode``)."""
    _cache: dict = field(factory=dict, eq=False, repr=False, alias="cache")

    def accelerator(self, name: str) -> Accelerator:
        """An accelerator by id or alias, or :class:`UnknownNameError` with suggestions."""
        if type(name) is not str:  # a list would not hash; None has no lower()
            raise expected("accelerator", "an accelerator id or alias (a string)", name)
        found = self._cache.get(("accelerator named", name))  # names seen before: one look-up
        if found is not None:
            return found
        key = self._aliases.get(("accelerator", name.lower()), name.lower())
        try:
            found = self._cache[("accelerator named", name)] = self.accelerators[key]
            return found
        except KeyError:
            known = list(self.accelerators) + [a for (k, a) in self._aliases if k == "accelerator"]
            raise UnknownNameError("accelerator", name, known) from None

    def model(self, name: str) -> Model:
        """A model preset by id or alias, or :class:`UnknownNameError` with suggestions."""
        if type(name) is not str:
            raise expected("model", "a model preset id or alias (a string)", name)
        found = self._cache.get(("model named", name))  # names seen before: one look-up
        if found is not None:
            return found
        key = self._aliases.get(("model", name.lower()), name.lower())
        try:
            found = self._cache[("model named", name)] = self.models[key]
            return found
        except KeyError:
            known = list(self.models) + [a for (k, a) in self._aliases if k == "model"]
            raise UnknownNameError("model", name, known) from None

    def lineage(self, family: str) -> tuple[str, ...]:
        """``family``, then the family it extends, and so on (``("moe", "dense")``)."""
        if type(family) is not str:
            raise expected("family", "an architecture family's name (a string)", family)
        chain = [family]
        arch = self.architectures.get(family)
        while arch is not None and arch.extends and arch.extends not in chain:
            chain.append(arch.extends)
            arch = self.architectures.get(arch.extends)
        return tuple(chain)

    def hardware_lineage(self, family: str) -> tuple[str, ...]:
        """The part of ``family``'s lineage whose hardware runs it: up to and including the
        first family that brings ``new_layers`` (see :class:`Architecture`)."""
        chain = []
        for name in self.lineage(family):
            chain.append(name)
            arch = self.architectures.get(name)
            if arch is not None and arch.new_layers:
                break
        return tuple(chain)

    def provider(self, kind: str, id: str) -> str:
        """The plugin that registered ``id`` of ``kind`` (``"model"``, ...), or ``"?"``."""
        if type(kind) is not str or type(id) is not str:
            raise expected("kind" if type(kind) is not str else "id", "a string",
                           kind if type(kind) is not str else id)
        return self.providers.get((kind, id), "?")

    def plugin(self, name: str) -> PluginInfo:
        if type(name) is not str:
            raise expected("plugin", "a plugin's name (a string)", name)
        for p in self.plugins:
            if p.name == name:
                return p
        raise UnknownNameError("plugin", name, [p.name for p in self.plugins])


# --------------------------------------------------------------------------- building


def _env_list(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


def _env_flag(name: str) -> bool:
    """True when a switch variable is set to anything but empty, 0, false, no or off."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


class _Collector:
    """Receives registrations of one kind, validating each as it arrives."""

    def __init__(self, kind: str, cls: type, key: Callable[[Any], str]):
        self.kind = kind
        self.cls = cls
        self.key = key
        self.entries: dict[str, list[tuple[Any, str]]] = {}
        self.by_plugin: dict[str, list[str]] = {}

    def bind(self, plugin: str) -> Callable[[Any], None]:
        def register(obj: Any) -> None:
            if not isinstance(obj, self.cls):
                raise TypeError(f"register() takes a {self.cls.__name__}, got "
                                f"{type(obj).__name__}")
            self.add(obj, plugin)
        return register

    def add(self, obj: Any, plugin: str) -> None:
        key = self.key(obj)
        for other, other_plugin in self.entries.get(key, ()):
            if not _replaces(obj, other) and not _replaces(other, obj):
                raise ConflictError(f"{self.kind} {key!r}", (other_plugin, plugin),
                                    "rename one, or mark one with replaces = "
                                    f"\"{key}\", or disable one with {DISABLE_ENV}")
        self.entries.setdefault(key, []).append((obj, plugin))
        self.by_plugin.setdefault(plugin, []).append(key)

    def finish(self) -> dict[str, tuple[Any, str]]:
        """Resolve replacements; the result does not depend on registration order."""
        out: dict[str, tuple[Any, str]] = {}
        for key, items in self.entries.items():
            winners = [it for it in items if not any(_replaces(o, it[0]) for o, _ in items
                                                     if o is not it[0])]
            if len(winners) != 1:
                raise ConflictError(f"{self.kind} {key!r}", [p for _, p in items],
                                    "more than one says it replaces the other")
            out[key] = winners[0]
        replaced = {getattr(o, "replaces", None) for o, _ in out.values()}
        for key in sorted(k for k in replaced if k and k in out):
            obj, _ = out[key]
            if getattr(obj, "replaces", None) != key:
                del out[key]
        return dict(sorted(out.items()))


class _Either:
    """The architectures hook's ``register``: takes families and attention variants."""

    def __init__(self, *collectors: _Collector):
        self.collectors = collectors
        self.by_plugin = collectors[0].by_plugin

    def bind(self, plugin: str) -> Callable[[Any], None]:
        def register(obj: Any) -> None:
            for c in self.collectors:
                if isinstance(obj, c.cls):
                    c.add(obj, plugin)
                    return
            raise TypeError("register() takes an " + " or ".join(
                c.cls.__name__ for c in self.collectors) + f", got {type(obj).__name__}")
        return register


def _check_extends(arch_map: Mapping[str, Architecture], providers) -> list[str]:
    problems = []
    for family, arch in arch_map.items():
        seen = [family]
        parent = arch.extends
        while parent is not None:
            if parent not in arch_map:
                problems.append(f"architecture {family!r} of plugin "
                                f"{providers[('architecture', family)]!r} extends {parent!r}, "
                                f"which is not registered (known: {', '.join(arch_map)})")
                break
            if parent in seen:
                problems.append(f"architecture {family!r} extends itself through "
                                + " -> ".join(seen + [parent]))
                break
            seen.append(parent)
            parent = arch_map[parent].extends
    return problems


def _model_problems(m: Model, arch_map, variant_map) -> list[str]:
    """A model's family and attention variant must be registered; its options must be ones
    they declare (the family's, its ancestors' and the attention variant's)."""
    arch = arch_map.get(m.family)
    if arch is None:
        return [f"family {m.family!r} is not registered "
                f"(known: {', '.join(arch_map) or 'none'})"]
    specs = list(arch.options)
    owners = [f"family {m.family!r}"]
    parent, seen = arch.extends, {m.family}
    while parent in arch_map and parent not in seen:
        seen.add(parent)
        specs += arch_map[parent].options
        parent = arch_map[parent].extends
    if m.attention != "standard":
        variant = variant_map.get(m.attention)
        if variant is None:
            return [f"attention {m.attention!r} is not registered (known: "
                    f"{', '.join(['standard', *variant_map])})"]
        specs += variant.options
        owners.append(f"attention {m.attention!r}")
    return check_options(m, tuple(specs), " or ".join(owners))


def _replaces(new: Any, old: Any) -> bool:
    return getattr(new, "replaces", None) == getattr(old, "id", None)


class _FormulaCollector:
    def __init__(self):
        self.formulas: list[Formula] = []
        self.by_plugin: dict[str, list[str]] = {}

    def bind(self, plugin: str) -> Callable[[Formula], None]:
        def register(f: Formula) -> None:
            if not isinstance(f, Formula):
                raise TypeError(f"register() takes a Formula (made with "
                                f"@ridgeline.plugin.formula), got {type(f).__name__}")
            f = _evolve(f, plugin=plugin)
            for other in self.formulas:
                if other.produces != f.produces:
                    continue
                if other.applies == f.applies:
                    raise ConflictError(
                        f"formula for {f.produces!r} where {f.applies.describe()}",
                        (f"{other.plugin} ({other.name})", f"{plugin} ({f.name})"),
                        "make one more specific, or disable a plugin with " + DISABLE_ENV)
                if other.unit != f.unit:
                    raise ConflictError(f"unit of {f.produces!r}",
                                        (f"{other.plugin}: {other.unit!r}",
                                         f"{plugin}: {f.unit!r}"),
                                        "formulas for one quantity must agree on its unit")
            self.formulas.append(f)
            self.by_plugin.setdefault(plugin, []).append(f.produces)
        return register


def _evolve(obj, **changes):
    import attrs
    return attrs.evolve(obj, **changes)


def _load_entry_points(pm: pluggy.PluginManager, blocked: set[str], dists: dict) -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in blocked:
            continue
        dist = getattr(ep, "dist", None)
        dist_name = dist.name if dist else "?"
        version = dist.version if dist else "?"
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"{ep.name}", None,
                f"entry point {ep.name!r} ({ep.value}) of distribution {dist_name} {version} "
                f"could not be imported: {type(exc).__name__}: {exc}",
                hint=f"Fix or uninstall {dist_name}, or disable it with "
                     f"{DISABLE_ENV}={ep.name}") from exc
        if pm.is_registered(plugin) or pm.has_plugin(ep.name):
            continue
        _register(pm, plugin, ep.name)
        dists[ep.name] = (dist_name, version)


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    unknown = sorted(a for a in dir(plugin) if a.startswith("ridgeline_") and a not in HOOKS)
    if unknown:
        raise PluginError(name, None,
                          f"defines {', '.join(unknown)}, which is not a ridgeline hook",
                          hint="the hooks are: " + ", ".join(HOOKS))
    # pluggy silently skips a hook function that lacks the marker: say so instead
    unmarked = sorted(a for a in HOOKS if callable(getattr(plugin, a, None))
                      and not hasattr(getattr(plugin, a), "ridgeline_impl"))
    if unmarked:
        raise PluginError(name, None,
                          f"defines {', '.join(unmarked)} without @ridgeline.hookimpl, so "
                          f"pluggy would ignore it", hint="mark it with @ridgeline.hookimpl")
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:  # e.g. a parameter the hook does not offer
        raise PluginError(name, None, str(exc).replace("\n", "; ")) from None
    except ValueError as exc:
        raise PluginError(name, None, f"could not be registered: {exc}") from None


class _UserRegistry:
    """A user's registry folder, registered like a plugin that loads its TOML files."""

    def __init__(self, directory: Path):
        self.directory = directory

    @hookspecs.hookimpl
    def ridgeline_register_accelerators(self, register):
        from .loader import load_accelerator
        for path in sorted((self.directory / "accelerators").glob("*.toml")):
            register(load_accelerator(path))

    @hookspecs.hookimpl
    def ridgeline_register_models(self, register):
        from .loader import load_model
        for path in sorted((self.directory / "models").glob("*.toml")):
            register(load_model(path))


def _folders(value: Any) -> list[str]:
    """Registry folders as strings: one path, or an iterable of paths."""
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    try:
        items = list(value)
    except TypeError:
        raise RegistryError(shown(value), "registry: expected a folder or a list of folders "
                                          "(str or pathlib.Path)") from None
    out = []
    for item in items:
        try:
            out.append(_path(item, "registry"))
        except ScenarioError as exc:
            raise RegistryError(shown(item), str(exc)) from None
    return out


def _registry_dirs(extra: Iterable[str | os.PathLike]) -> list[Path]:
    dirs = [Path(p) for p in _folders(extra)]
    dirs += [Path(p) for p in os.environ.get(REGISTRY_ENV, "").split(os.pathsep) if p.strip()]
    for d in dirs:
        if d.is_file():
            raise RegistryError(str(d), "is a file; a registry is a folder holding "
                                        "accelerators/*.toml and models/*.toml")
        if not d.is_dir():
            raise RegistryError(str(d), "registry folder does not exist (expected "
                                        "DIR/accelerators/*.toml and DIR/models/*.toml)")
    return dirs


def build_catalog(*, plugins: Iterable[Any] = (), entry_points: bool = True,
                  registry: Iterable[str | os.PathLike] = (), builtins: bool = True) -> Catalog:
    """Build a fresh catalog.

    Args:
        plugins: plugin objects (modules or instances) to add, as tests and embedders do.
        entry_points: load third-party plugins from the ``ridgeline`` entry-point group
            (also switched off by ``RIDGELINE_NO_PLUGINS=1``).
        registry: extra registry folders, besides those in ``RIDGELINE_REGISTRY``.
        builtins: register the built-in plugins (tests switch this off to isolate one plugin).

    Raises:
        PluginError: a plugin failed to import or raised in a hook; an invalid file that a
            plugin (or a registry folder) loads inside its hook arrives this way too, naming
            the plugin, with the file's :class:`RegistryError` as its message and cause.
        ConflictError: two plugins registered the same name.
        RegistryError: a registry folder is missing, or the registered objects do not fit
            together (a model of an unknown family, options its family does not take).
    """
    if isinstance(plugins, (str, bytes)) or not isinstance(plugins, Iterable):
        raise PluginError(shown(plugins), None, "plugins: expected a list of plugin objects "
                                                "(modules or instances)")
    registry = _folders(registry)
    pm = pluggy.PluginManager("ridgeline")
    pm.add_hookspecs(hookspecs)
    blocked = set(_env_list(DISABLE_ENV))
    for name in blocked:
        pm.set_blocked(name)
    dists: dict[str, tuple[str, str]] = {}
    if builtins:
        for modname in BUILTIN_PLUGINS:
            if modname in blocked:
                continue
            _register(pm, importlib.import_module(modname), modname)
            dists[modname] = ("ridgeline", _own_version())
    if entry_points and not _env_flag(NO_PLUGINS_ENV):
        _load_entry_points(pm, blocked, dists)
    for i, plugin in enumerate(plugins):
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{i}"
        if name in blocked:
            continue
        _register(pm, plugin, name)
        dists[name] = ("(passed directly)", "")
    for d in _registry_dirs(registry):
        name = f"registry:{d}"
        if pm.has_plugin(name):
            continue
        pm.register(_UserRegistry(d), name=name)
        dists[name] = ("(registry folder)", "")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(name, None, str(exc),
                          hint="the hooks are: " + ", ".join(HOOKS)) from None

    archs = _Collector("architecture", Architecture, lambda a: a.family)
    variants = _Collector("attention variant", AttentionVariant, lambda a: a.name)
    accs = _Collector("accelerator", Accelerator, lambda a: a.id)
    models = _Collector("model", Model, lambda m: m.id)
    formulas = _FormulaCollector()
    readers = _Collector("config reader", ConfigReader, lambda r: r.model_type)
    collectors = {"ridgeline_register_config_readers": readers,
                  "ridgeline_register_architectures": _Either(archs, variants),
                  "ridgeline_register_accelerators": accs,
                  "ridgeline_register_models": models,
                  "ridgeline_register_formulas": formulas}
    trace = _env_flag(TRACE_ENV)
    hooks_of: dict[str, list[str]] = {}
    for hook_name in HOOKS:
        collector = collectors[hook_name]
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            hooks_of.setdefault(impl.plugin_name, []).append(hook_name)
            if trace:
                print(f"ridgeline: {impl.plugin_name}: {hook_name}", file=sys.stderr)
            if impl.hookwrapper or getattr(impl, "wrapper", False):
                # calling a wrapper directly only makes a generator: nothing would register
                raise PluginError(impl.plugin_name, hook_name,
                                  "registration hooks take no wrappers",
                                  hint="drop wrapper=True / hookwrapper=True and call "
                                       "register() directly")
            kwargs = {"register": collector.bind(impl.plugin_name)}
            try:
                returned = impl.function(*(kwargs[a] for a in impl.argnames))
            except RidgelineError as exc:
                if isinstance(exc, (ConflictError, PluginError)):
                    raise
                raise PluginError(impl.plugin_name, hook_name, str(exc)) from exc
            except Exception as exc:
                raise PluginError(impl.plugin_name, hook_name,
                                  f"{type(exc).__name__}: {exc}") from exc
            if returned is not None:
                # llm-style "return [objects]" would otherwise register nothing, silently
                raise PluginError(impl.plugin_name, hook_name,
                                  f"returned {type(returned).__name__} instead of None",
                                  hint="call register(obj) for each object; hooks return "
                                       "nothing")

    arch_map = {k: o for k, (o, _) in archs.finish().items()}
    acc_final = accs.finish()
    model_final = models.finish()
    providers = {("architecture", k): p for k, (_, p) in archs.finish().items()}
    providers |= {("accelerator", k): p for k, (_, p) in acc_final.items()}
    providers |= {("model", k): p for k, (_, p) in model_final.items()}

    variant_map = {k: o for k, (o, _) in variants.finish().items()}
    reader_final = readers.finish()
    providers |= {("config reader", k): p for k, (_, p) in reader_final.items()}
    providers |= {("attention variant", k): p for k, (_, p) in variants.finish().items()}
    problems = _check_extends(arch_map, providers)
    for key, (m, plugin) in model_final.items():
        problems += [f"model {key!r} of plugin {plugin!r}: {p}"
                     for p in _model_problems(m, arch_map, variant_map)]
    if problems:
        raise RegistryError("catalog", problems)

    aliases: dict[tuple[str, str], str] = {}
    for kind, final in (("accelerator", acc_final), ("model", model_final)):
        for key, (obj, plugin) in final.items():
            for alias in obj.aliases:
                other = aliases.get((kind, alias))
                if alias in final and alias != key:
                    raise ConflictError(f"{kind} name {alias!r}",
                                        (f"{providers[(kind, alias)]} (id)",
                                         f"{plugin} (alias of {key!r})"))
                if other is not None and other != key:
                    raise ConflictError(f"{kind} alias {alias!r}",
                                        (f"{providers[(kind, other)]} ({other})",
                                         f"{plugin} ({key})"))
                aliases[(kind, alias)] = key

    by_quantity: dict[str, list[Formula]] = {}
    for f in formulas.formulas:
        by_quantity.setdefault(f.produces, []).append(f)
    formula_map = {q: tuple(sorted(fs, key=lambda f: (-f.applies.specificity, f.id)))
                   for q, fs in sorted(by_quantity.items())}
    for f in formulas.formulas:
        providers[("formula", f.id)] = f.plugin

    infos = []
    registered_by = {"architectures": archs.by_plugin, "accelerators": accs.by_plugin,
                     "models": models.by_plugin, "formulas": formulas.by_plugin,
                     "config_readers": readers.by_plugin}
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda x: x[0]):
        if plugin is None:
            continue
        dist, version = dists.get(name, ("?", "?"))
        infos.append(PluginInfo(
            name=name, distribution=dist, version=version,
            hooks=tuple(sorted(hooks_of.get(name, ()))),
            registered=MappingProxyType({k: tuple(sorted(set(v.get(name, ()))))
                                         for k, v in registered_by.items()})))

    return Catalog(
        accelerators=MappingProxyType({k: o for k, (o, _) in acc_final.items()}),
        models=MappingProxyType({k: o for k, (o, _) in model_final.items()}),
        architectures=MappingProxyType(arch_map),
        attention_variants=MappingProxyType(variant_map),
        formulas=MappingProxyType(formula_map),
        providers=MappingProxyType(providers),
        plugins=tuple(infos),
        aliases=MappingProxyType(aliases),
        config_readers=MappingProxyType({k: o for k, (o, _) in reader_final.items()}),
    )


@functools.lru_cache(maxsize=None)
def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("ridgeline")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


@functools.lru_cache(maxsize=8)
def _cached_catalog(registry: tuple[str, ...], env: tuple) -> Catalog:
    return build_catalog(registry=registry)


def default_catalog(registry: Iterable[str | os.PathLike] = ()) -> Catalog:
    """The catalog of the built-in plugins, the installed plugins and the registry folders.

    Cached per set of registry folders and per value of the ``RIDGELINE_*`` environment
    variables, so repeated estimates pay for it once.
    """
    # os.environ.get costs microseconds per unset variable (a KeyError raised and caught
    # inside); the raw mapping under os.environ gives the same values (as bytes on POSIX) in
    # nanoseconds, and this runs before every estimate. Only the cache key uses them.
    data = getattr(os.environ, "_data", None)
    if type(data) is dict and _ENV_RAW_KEYS:
        env = (data.get(_ENV_RAW_KEYS[0]), data.get(_ENV_RAW_KEYS[1]),
               data.get(_ENV_RAW_KEYS[2]))
    else:
        env = tuple(os.environ.get(k, "") for k in (DISABLE_ENV, NO_PLUGINS_ENV, REGISTRY_ENV))
    if not registry:
        last = _LAST_DEFAULT
        if last and last[0] == env:  # the same environment as the call before: most calls
            return last[1]
        catalog = _cached_catalog((), env)
        _LAST_DEFAULT[:] = (env, catalog)
        return catalog
    return _cached_catalog(tuple(_folders(registry)), env)


#: the environment of the last call of default_catalog() without registry folders, and its
#: catalog.
_LAST_DEFAULT: list = []


def _env_raw_keys() -> tuple:
    try:
        return tuple(os.environ.encodekey(k)  # type: ignore[attr-defined]
                     for k in (DISABLE_ENV, NO_PLUGINS_ENV, REGISTRY_ENV))
    except AttributeError:  # pragma: no cover - os.environ replaced by a plain mapping
        return ()


_ENV_RAW_KEYS = _env_raw_keys()
