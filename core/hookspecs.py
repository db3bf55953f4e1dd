"""The plugin contract: every hook a ridgeline plugin may implement.

A plugin is a module or object with functions named after these hooks, marked with
``@ridgeline.hookimpl``, and published under the ``ridgeline`` entry-point group::

    [project.entry-points.ridgeline]
    acme = "acme_ridgeline"

Every hook is a *registration* hook. It is called once each time a catalog is built (never
during an estimate), with a ``register`` callback bound to the calling plugin. Call
``register(obj)`` once per object; each object is validated and checked for conflicts at once,
and recorded with the plugin (and its distribution and version) that gave it.

Rules that hold for every hook:

- Do not keep ``register`` after the hook returns, and do not return anything.
- Registration hooks take no wrappers, ``tryfirst`` or ``trylast``: nothing needs them,
  because a name given twice is an error, not an override. To replace another plugin's object
  say so as data (``replaces = "nvidia-h100-sxm"`` on an accelerator or model).
- The catalog's contents are sorted by id, so nothing depends on the order plugins load in.
- An exception raised inside a hook is re-raised as :class:`ridgeline.PluginError` naming the
  plugin and the hook.

Hooks evolve only by *adding* parameters (pluggy passes only the arguments an implementation
declares), so implementations written against this version keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from .accelerator import Accelerator
    from .formula import Formula
    from .hf_config import ConfigReader
    from .model import Architecture, AttentionVariant, Model

hookspec = pluggy.HookspecMarker("ridgeline")
hookimpl = pluggy.HookimplMarker("ridgeline")


@hookspec
def ridgeline_register_accelerators(register: "Callable[[Accelerator], None]") -> None:
    """Contribute accelerator specs.

    Called once per catalog build. Call ``register(accelerator)`` once per
    :class:`ridgeline.plugin.Accelerator`; build it with
    :func:`ridgeline.plugin.load_accelerator` from a TOML file shipped as package data, or
    construct it directly. An id or alias that another plugin registered is an error naming
    both, unless the new accelerator says ``replaces = "<that id>"``.

    Example::

        from importlib.resources import files
        import ridgeline
        from ridgeline.plugin import load_accelerator

        @ridgeline.hookimpl
        def ridgeline_register_accelerators(register):
            register(load_accelerator(files(__package__) / "acme-x1.toml"))

    .. versionadded:: 0.1
    """


@hookspec
def ridgeline_register_models(register: "Callable[[Model], None]") -> None:
    """Contribute model presets.

    Called once per catalog build. Call ``register(model)`` once per
    :class:`ridgeline.plugin.Model` (see :func:`ridgeline.plugin.load_model`). The model's
    ``family`` must be one that some plugin registers with
    :func:`ridgeline_register_architectures`, and its ``options`` must be the ones that family
    declares; both are checked when the catalog is complete.

    Example::

        @ridgeline.hookimpl
        def ridgeline_register_models(register):
            register(load_model(files(__package__) / "acme-7b.toml"))

    .. versionadded:: 0.1
    """


@hookspec
def ridgeline_register_architectures(
        register: "Callable[[Architecture | AttentionVariant], None]") -> None:
    """Contribute architecture families (``dense``, ``moe``, a new attention or state-space layer).

    Called once per catalog build. Call ``register(architecture)`` once per
    :class:`ridgeline.plugin.Architecture`, which names the family, documents it and declares
    the family-specific ``options`` its models take. The formulas that make the family work are
    registered through :func:`ridgeline_register_formulas` with ``family=...`` conditions.

    A family may ``extends`` another: every formula of the parent then applies to it, and a
    formula for the family itself beats an equally specific one for the parent, so it registers
    only what differs (``moe`` extends ``dense``). Attention variants usable by any family
    (DeepSeek's ``mla``) are registered here too, as
    :class:`ridgeline.plugin.AttentionVariant`; a model selects one with
    ``attention = "<name>"`` and formulas for it require ``features="attention-<name>"``.

    Example::

        @ridgeline.hookimpl
        def ridgeline_register_architectures(register):
            register(Architecture(family="rwkv", doc="RWKV-style recurrent layers",
                                  options=(OptionSpec("state_size", "int", required=True),)))
            register(Architecture(family="moe-lite", doc="a cheaper router", extends="moe"))
            register(AttentionVariant(name="linear", doc="linear attention",
                                      options=(OptionSpec("feature_dim", "int"),)))

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``extends`` and attention variants.
    """


@hookspec
def ridgeline_register_formulas(register: "Callable[[Formula], None]") -> None:
    """Contribute formulas: functions that each compute one quantity.

    Called once per catalog build. Call ``register(f)`` once per
    :class:`ridgeline.plugin.Formula`, made with the :func:`ridgeline.plugin.formula`
    decorator. Parameters are named after the scenario's objects (``model``, ``system``,
    ``plan``, ``workload``) or after other quantities. For any scenario, the engine keeps the
    formulas whose conditions hold and takes the most specific; two equally specific ones from
    different plugins are an error naming both. Formulas must be pure and must accept numpy
    arrays wherever numbers flow in. Purity matters: the engine computes a formula whose
    parameters depend only on ``model``, ``system`` and ``plan`` once per such triple and
    reuses the value in later estimates.

    What a formula may return: a real number (``int``, ``float`` or a numpy real scalar), or
    in a sweep a real numpy array that broadcasts to the grid's shape, inside its quantity's
    *domain*: every physical unit (s, B, FLOP, B/s, W, J, USD, ...) is ``nonnegative``, a
    dimensionless quantity ``real`` unless ``formula(..., domain=...)`` says ``count`` (a
    whole number >= 1: batch, tokens, params, devices), ``whole`` (>= 0), ``fraction``
    (0 to 1) or ``flag`` (0 or 1, or a bool). ``unit="table"`` and ``unit="object"`` values
    are structured and keep their own shapes. A formula that replaces another checks against
    the strictest domain declared for the quantity. Anything else (``None``, a string, a
    complex number, a list, NaN, inf, an int too large for a float, a negative byte count)
    is a :class:`ridgeline.errors.FormulaError` naming the plugin, the formula and the value;
    a value given for the quantity (``inputs=``, a sweep's axis) outside the domain is a
    :class:`ridgeline.errors.ScenarioError` naming the quantity.

    In a plan search a formula runs once on many plans at a time (``docs/plans.md``): the
    plan's degrees (``plan.tp``, ...) are integer arrays, one entry per plan, and a choice
    (``plan.zero``, ``plan.features()``, ``system.accelerator``) reads as one value, so
    Python ``if`` on choices and features works as on one plan. Reading a choice may raise
    the search's internal signal to split the plans: let exceptions from ``plan`` and
    ``system`` propagate (no bare ``except Exception``). Arithmetic on degrees that cannot be
    written on arrays goes in a :func:`ridgeline.plugin.per_plan` formula.

    Example::

        from ridgeline.plugin import formula

        @formula(kind="acme-dataflow")
        def decode_step_s(decode_weight_bytes_per_device, system):
            # weights stay in on-chip SRAM: reading them is 10x faster than HBM
            return decode_weight_bytes_per_device / system.accelerator.main_memory.bandwidth_bytes_per_s

        @ridgeline.hookimpl
        def ridgeline_register_formulas(register):
            register(decode_step_s)

    .. versionadded:: 0.1
    """


@hookspec
def ridgeline_register_config_readers(register: "Callable[[ConfigReader], None]") -> None:
    """Contribute readers of Hugging Face ``config.json`` files, one per ``model_type``.

    Called once per catalog build. Call ``register(reader)`` once per
    :class:`ridgeline.plugin.ConfigReader`. Its ``read`` function receives a
    :class:`ridgeline.plugin.HFConfig` (typed getters ``size``, ``count``, ``flag``, ``text``,
    ``strings``, ``indices``, ``present``, ``nested`` that record which keys were read, and
    ``fail`` to refuse a field) and returns the :class:`ridgeline.plugin.Model`'s fields as a
    dict (or a ``Model``); core adds the id, name and rotary context scaling, and refuses the
    config if a key that changes the parameter count (core's list plus every reader's
    ``count_keys``) went unread. Take the defaults of the architecture's reference config
    class where a key is absent. A ``model_type`` another plugin reads is an error naming
    both. The family the reader returns must be registered (with
    :func:`ridgeline_register_architectures`), with formulas for its parameters.

    Example::

        from ridgeline.plugin import ConfigReader

        def read_acme(cfg):
            return {"vocab_size": cfg.size("vocab_size"), "hidden_size": cfg.size("d_model"),
                    "num_layers": cfg.size("n_layers"), "num_heads": cfg.size("n_heads"),
                    "intermediate_size": cfg.size("d_ff"), "family": "acme-dense",
                    "max_seq_len": cfg.size("max_position_embeddings", default=4096)}

        @ridgeline.hookimpl
        def ridgeline_register_config_readers(register):
            register(ConfigReader(model_type="acme", read=read_acme, family="acme-dense",
                                  doc="ACME's decoder", count_keys=("d_model", "d_ff")))

    .. versionadded:: 0.2
    """
