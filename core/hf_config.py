"""Reading a Hugging Face ``config.json`` into a :class:`Model`. Nothing is downloaded.

The readers themselves are plugins: each registers a :class:`ConfigReader` for one
``model_type`` through the ``ridgeline_register_config_readers`` hook, and maps the family's
keys (and aliases, such as GPT-2's ``n_embd`` for ``hidden_size``) onto :class:`Model` fields,
using the defaults of the family's Transformers config class where a key is absent, because
that is what the checkpoint was built with. This module keeps the mechanism: reading the
file, dispatching on ``model_type`` through the catalog, the rotary context, the id, and the
check that no key which changes the parameter count went unread.

Keys that do not change the parameter count (``torch_dtype``, ``architectures``, ...) are
ignored. Keys that do change it are either honoured or rejected: a count key that the
family's reader does not use (``ffn_dim`` in a Llama config) is an error, never silently
dropped. Every problem is a :class:`RegistryError` naming the config and the field.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NoReturn, Optional, Union

from attrs import field, frozen

from . import _validators as v
from ._arguments import shown
from .errors import RegistryError, RidgelineError
from .model import Model

if TYPE_CHECKING:  # pragma: no cover
    from .catalog import Catalog

__all__ = ["model_from_hf_config", "HFConfig", "ConfigReader", "supported_model_types"]

#: keys whose presence (with a non-zero value) marks a mixture-of-experts config.
MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")

#: keys that change the parameter count in some family (or mark an architecture a reader may
#: not model). Each reader records the keys it uses; any of these (or of the ``count_keys``
#: any registered reader declares) that it did not use is an error rather than a silent
#: miscount.
COUNT_KEYS = frozenset({
    "vocab_size", "hidden_size", "n_embd", "n_embed", "num_hidden_layers", "n_layer",
    "num_attention_heads", "n_head", "num_key_value_heads", "num_kv_heads", "n_head_kv",
    "head_dim", "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size",
    "word_embed_proj_dim", "tie_word_embeddings", "attention_bias", "mlp_bias", "enable_bias",
    "bias", "new_decoder_architecture", "multi_query", "parallel_attn",
    "num_ln_in_parallel_attn", "do_layer_norm_before", "_remove_final_layer_norm",
    "layer_norm_elementwise_affine", "add_cross_attention",
    # architectures a reader may not model (multi-head latent attention, MoE layouts)
    "kv_lora_rank", "q_lora_rank", "moe_intermediate_size", "shared_expert_intermediate_size",
    # Qwen-MoE layer layouts (which layers are sparse)
    "decoder_sparse_step", "mlp_only_layers",
    # multi-head latent attention widths and DeepSeek's MoE layout
    "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "n_shared_experts",
    "first_k_dense_replace", "moe_layer_freq",
})

_REQUIRED = object()
_NOT_ID = re.compile(r"[^a-z0-9._+-]+")


class HFConfig:
    """A parsed ``config.json`` with typed getters that name the field in every error.

    A config reader receives one. It records the keys it was asked for, so that count keys
    nobody used can be reported. ``data`` is the raw mapping; ``source`` names the config in
    errors.
    """

    def __init__(self, data: Mapping[str, Any], source: str):
        self.data = data
        self.source = source
        self.used: set[str] = set()
        self._nested: list[HFConfig] = []

    def fail(self, field: str, reason: str) -> NoReturn:
        """Raise the :class:`RegistryError` for ``field`` of this config."""
        raise RegistryError(self.source, f"{field}: {reason}")

    def use(self, *names: str) -> None:
        """Mark keys as read (a reader that reads them through ``data`` says so here)."""
        self.used.update(names)

    def _lookup(self, names: tuple[str, ...]) -> tuple[str, Any]:
        """The first of ``names`` present with a non-null value; aliases must agree."""
        self.used.update(names)
        found = [(n, self.data[n]) for n in names if self.data.get(n) is not None]
        for name, value in found[1:]:
            if value != found[0][1]:
                self.fail(name, f"{value!r} contradicts {found[0][0]} = {found[0][1]!r} "
                                f"(the two keys are aliases)")
        return found[0] if found else (names[0], None)

    def size(self, *names: str, default: Any = _REQUIRED) -> Any:
        """A whole number >= 1 under any of ``names``, or ``default`` when absent."""
        name, value = self._lookup(names)
        if value is None:
            if default is _REQUIRED:
                self.fail(name, "required field is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, f"expected a whole number, got {value!r}")
        if value < 1:
            self.fail(name, f"must be >= 1, got {value}")
        return value

    def count(self, name: str, default: int) -> int:
        """A whole number >= 0 (``first_k_dense_replace``, ``n_shared_experts``): ``default``
        when the key is absent, 0 when it is null."""
        self.used.add(name)
        if name not in self.data:
            return default
        value = self.data[name]
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(name, f"expected a whole number >= 0, got {value!r}")
        return value

    def flag(self, *names: str, default: bool) -> bool:
        """A boolean under any of ``names``, or ``default`` when absent."""
        name, value = self._lookup(names)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(name, f"expected true or false, got {value!r}")
        return value

    def text(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """A string under ``name``, or ``default`` when absent."""
        name, value = self._lookup((name,))
        if value is None:
            return default
        if not isinstance(value, str):
            self.fail(name, f"expected a string, got {value!r}")
        return value

    def strings(self, name: str) -> Optional[list]:
        """A list of strings under ``name`` (``layer_types``), or ``None`` when absent."""
        _, value = self._lookup((name,))
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            self.fail(name, f"expected a list of strings, got {shown(value)}")
        return value

    def indices(self, name: str) -> Optional[list]:
        """A list of whole numbers >= 0 under ``name`` (layer indices), or ``None``."""
        _, value = self._lookup((name,))
        if value is None:
            return None
        if not isinstance(value, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
            self.fail(name, f"expected a list of whole numbers >= 0, got {shown(value)}")
        return value

    def present(self, name: str) -> bool:
        """Whether ``name`` is given with a non-null value."""
        return self.data.get(name) is not None

    def nested(self, name: str) -> "HFConfig":
        """The config nested under ``name`` (Gemma 3's and Llama 4's ``text_config``), whose
        unused count keys are checked too."""
        self.used.add(name)
        value = self.data.get(name)
        if not isinstance(value, dict):
            self.fail(name, f"expected an object of fields, got {shown(value)}")
        child = HFConfig(value, f"{self.source}: {name}")
        self._nested.append(child)
        return child

    def check_unused_count_keys(self, model_type: str,
                                extra_keys: frozenset = frozenset()) -> None:
        # a switched-off feature (``attention_bias: false``) adds nothing, so it can be ignored
        active = {k for k, v in self.data.items() if v is not None and v is not False}
        for key in sorted((COUNT_KEYS | extra_keys) & active - self.used):
            self.fail(key, f"changes the parameter count but is not a field of model_type "
                           f"{model_type!r}, so it cannot be honoured")
        for child in self._nested:
            child.check_unused_count_keys(model_type, extra_keys)


def _callable(instance, attribute, value) -> None:
    if not callable(value):
        raise ValueError(f"{attribute.name} must be a function taking an HFConfig, "
                         f"got {shown(value)}")


def _key_names(instance, attribute, value) -> None:
    for key in value:
        if not isinstance(key, str) or not key:
            raise ValueError(f"{attribute.name} must be config key names (non-empty "
                             f"strings), got {shown(key)}")


@frozen
class ConfigReader:
    """How to read the ``config.json`` of one ``model_type`` (a plugin registers it with
    ``ridgeline_register_config_readers``).

    ``read`` takes an :class:`HFConfig` and returns the :class:`Model`'s fields as a dict
    (``vocab_size``, ``hidden_size``, ...; ``family`` and ``options`` for families other than
    ``dense``). Core adds the id, the name, the notes and the rotary context scaling.
    """

    model_type: str = field(validator=v.identifier)
    """The config's ``model_type`` (``llama``, ``gpt_bigcode``)."""
    read: Callable[[HFConfig], Mapping[str, Any]] = field(validator=_callable)
    doc: str = field(validator=v.non_empty_str)
    """One line: what the architecture is (shown by ``ridgeline models``)."""
    family: str = field(default="dense", validator=v.identifier)
    """The family of the models it reads (for listings)."""
    experts_keys: tuple[str, ...] = field(default=(), converter=tuple, validator=_key_names)
    """The keys it reads the routed experts from: a config of this type with another of
    ``num_local_experts``, ``num_experts``, ``n_routed_experts`` is refused."""
    count_keys: tuple[str, ...] = field(default=(), converter=tuple, validator=_key_names)
    """Keys that change the parameter count in this architecture: any reader that leaves
    one of them unread refuses the config, so they are never silently dropped."""

    @property
    def id(self) -> str:
        return self.model_type


# --------------------------------------------------------------------------- context


#: rope_scaling types whose max_position_embeddings is already the extended context (the
#: factor applies to original_max_position_embeddings, given beside it).
_EXTENDED_ALREADY = frozenset({"llama3", "longrope", "su"})


def _scaled_context(cfg: HFConfig, max_positions: int) -> int:
    """The context a rotary model runs with: ``max_position_embeddings``, or the
    ``rope_scaling`` factor times the length it scales (its ``original_max_position_embeddings``,
    else ``max_position_embeddings``) where that is longer.

    Linear, dynamic-NTK and YaRN scaling stretch the rotary frequencies by the factor, so
    positions up to factor x the trained length map into the trained range; Llama 3.1's and
    LongRoPE's configs give the extended length as ``max_position_embeddings`` already.
    """
    scaling = cfg.data.get("rope_scaling")
    if scaling is None:
        return max_positions
    if not isinstance(scaling, dict):
        cfg.fail("rope_scaling", f"expected an object or null, got {scaling!r}")
    factor = scaling.get("factor")
    if factor is None:
        return max_positions
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or \
            not 0 < factor < float("inf"):
        cfg.fail("rope_scaling.factor", f"expected a finite number > 0, got {factor!r}")
    kind = scaling.get("rope_type", scaling.get("type"))
    original = scaling.get("original_max_position_embeddings")
    if original is None:
        if kind in _EXTENDED_ALREADY:
            return max_positions
        original = max_positions
    elif isinstance(original, bool) or not isinstance(original, int) or original < 1:
        cfg.fail("rope_scaling.original_max_position_embeddings",
                 f"expected a whole number >= 1, got {original!r}")
    scaled = factor * original
    if scaled >= 2**53:  # beyond any context that could be stored, let alone trained
        cfg.fail("rope_scaling.factor", f"{factor!r} x {original} positions is not a context "
                                        f"length")
    return max(max_positions, int(scaled))


# --------------------------------------------------------------------------- entry point


#: keys a config without ``model_type`` must have to be read as a Llama config.
_LLAMA_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


def supported_model_types(catalog: "Catalog | None" = None) -> tuple[str, ...]:
    """The ``model_type`` values some plugin of ``catalog`` (default: the default catalog)
    reads, sorted."""
    return tuple(_readers(catalog))


def _readers(catalog) -> Mapping[str, ConfigReader]:
    if catalog is None:
        from .catalog import default_catalog
        catalog = default_catalog()
    return catalog.config_readers


def model_from_hf_config(source: Union[str, Path, Mapping[str, Any]], *,
                         id: str | None = None, catalog: "Catalog | None" = None) -> Model:
    """A :class:`Model` from a Hugging Face ``config.json``, read by the
    :class:`ConfigReader` a plugin of ``catalog`` registered for its ``model_type``.

    Args:
        source: a path to a local ``config.json`` (or to the folder holding one), or the
            already-parsed dict. Nothing is downloaded.
        id: the model's id; defaults to the config's folder name (``custom`` for a dict),
            lower-cased, with characters outside ``[a-z0-9._+-]`` replaced by ``-``.
        catalog: where the readers come from; ``None`` for the default catalog.

    Raises:
        RegistryError: the file cannot be read or is not JSON; no plugin reads its
            ``model_type`` (mixture-of-experts keys in a type read as dense included); a
            required field is missing; a field has the wrong type or contradicts another. The
            message names the field.
    """
    readers = _readers(catalog)
    data, source_name, default_id = _read(source)
    cfg = HFConfig(data, source_name)
    reader = _reader(cfg, readers)
    try:
        fields = reader.read(cfg)
    except RidgelineError:
        raise
    except Exception as exc:  # a plugin's reader that failed on a config it did not expect
        raise RegistryError(source_name, f"the reader of model_type {reader.model_type!r} "
                                         f"failed: {type(exc).__name__}: {exc}") from exc
    if isinstance(fields, Model):
        fields = _model_fields(fields)
    if not isinstance(fields, Mapping):
        raise RegistryError(source_name, f"the reader of model_type {reader.model_type!r} "
                                         f"returned {type(fields).__name__}, not a dict of "
                                         f"Model fields")
    fields = dict(fields)
    if fields.get("positions", "rotary") == "rotary" and fields.get("max_seq_len"):
        fields["max_seq_len"] = _scaled_context(cfg, fields["max_seq_len"])
    cfg.check_unused_count_keys(reader.model_type, _count_keys(readers))
    model_id = _check_id(cfg, id) if id is not None else _sanitise_id(default_id)
    name = data.get("_name_or_path")
    for key in ("id", "name", "notes"):
        fields.pop(key, None)
    fields.setdefault("family", "dense")  # a reader of a family other than dense says so
    try:
        return Model(id=model_id, name=name if isinstance(name, str) else "",
                     notes=f"read from a Hugging Face config (model_type "
                           f"{reader.model_type})", **fields)
    except (TypeError, ValueError) as exc:  # a validator the readers did not anticipate
        raise RegistryError(source_name, str(exc)) from None


_COUNT_KEYS_OF: dict[int, tuple[Mapping, frozenset]] = {}


def _count_keys(readers: Mapping[str, ConfigReader]) -> frozenset:
    """The ``count_keys`` every reader of a catalog declares, computed once per catalog."""
    cached = _COUNT_KEYS_OF.get(id(readers))
    if cached is None or cached[0] is not readers:
        if len(_COUNT_KEYS_OF) > 64:  # catalogs built by the dozen in tests: keep a few
            _COUNT_KEYS_OF.clear()
        cached = _COUNT_KEYS_OF[id(readers)] = (
            readers, frozenset(k for r in readers.values() for k in r.count_keys))
    return cached[1]


def _model_fields(model: Model) -> dict:
    import attrs  # a reader may build the Model itself; core still sets id, name and notes
    return {a.name: getattr(model, a.name) for a in attrs.fields(Model)}


def _reader(cfg: HFConfig, readers: Mapping[str, ConfigReader]) -> ConfigReader:
    """The reader to use; expert keys a reader does not read are refused first."""
    model_type = cfg.data.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        cfg.fail("model_type", f"expected a string, got {model_type!r}")
    reader = readers.get(model_type) if model_type is not None else None
    moe_types = sorted(t for t, r in readers.items() if r.experts_keys)
    for key in MOE_KEYS:
        # absent, null or 0 experts: a dense model
        if cfg.data.get(key) and (reader is None or not reader.experts_keys):
            cfg.fail(key, f"mixture-of-experts configs (family 'moe') are not supported yet "
                          f"for model_type {model_type!r}; the MoE types read are "
                          f"{', '.join(moe_types)}")
    supported = ", ".join(readers)
    if model_type is None:
        missing = [k for k in _LLAMA_KEYS if not cfg.present(k)]
        if missing or "llama" not in readers:
            cfg.fail("model_type", f"missing, and the config is not Llama-like (it lacks "
                                   f"{', '.join(missing) or 'a llama reader'}); supported: "
                                   f"{supported}")
        return readers["llama"]
    if reader is None:
        cfg.fail("model_type", f"{model_type!r} is not supported; supported: {supported}")
    return reader


def _read(source) -> tuple[Mapping[str, Any], str, str]:
    """The parsed config, the name errors use for it, and the default id."""
    if isinstance(source, Mapping):
        return source, "config dict", "custom"
    if not isinstance(source, (str, os.PathLike)):
        raise RegistryError(shown(source), "expected a path to a config.json (a str or "
                                           "pathlib.Path) or a parsed dict")
    path = Path(source)
    if path.is_dir():
        path = path / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(str(path), f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(str(path), f"not valid JSON: {exc}") from None
    except RecursionError:
        raise RegistryError(str(path), "not a config: its values are nested too deeply to "
                                       "read") from None
    if not isinstance(data, dict):
        raise RegistryError(str(path), f"expected a JSON object of fields, got "
                                       f"{type(data).__name__}")
    # a checkpoint's folder names it (meta-llama--Llama-3.1-8B/config.json); a config saved
    # under its own name (gpt-oss-20b.json) is named by that
    resolved = path.resolve()
    return data, str(path), resolved.parent.name if resolved.name == "config.json" else \
        resolved.stem


def _check_id(cfg: HFConfig, model_id: str) -> str:
    if not isinstance(model_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._+-]*", model_id):
        cfg.fail("id", f"must be lower-case letters, digits and '.', '_', '+', '-', "
                       f"got {model_id!r}")
    return model_id


def _sanitise_id(raw: str) -> str:
    """A registry id made of ``raw``: lower-case, runs of other characters become ``-``."""
    cleaned = _NOT_ID.sub("-", raw.lower()).strip("-._+")
    return cleaned or "custom"


def __getattr__(name: str):
    # the model types of the default catalog, for code written before readers were plugins
    if name == "SUPPORTED_MODEL_TYPES":
        return supported_model_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
