"""What RL runs and prompt costs have in common: named figures, each with the sub-estimate it
comes from, explained down to that estimate's own provenance tree."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from attrs import field

from ..errors import UnknownNameError
from ..units import format_value, unit_of


def _frozen_mapping(value) -> Mapping:
    return MappingProxyType(dict(value))


def figures_field():
    """The figures, by name (SI units, the unit in each name)."""
    return field(converter=_frozen_mapping)


def parts_field():
    """The engine's estimates the figures come from, by name."""
    return field(converter=_frozen_mapping, eq=False, repr=False)


def sources_field():
    """For each figure: (how it is computed, the part it comes from, that part's quantity)."""
    return field(converter=_frozen_mapping, eq=False, repr=False)


def figure_text(value: Any, unit: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    return format_value(value, unit) if unit else f"{value:.4g}"


class Figures:
    """Mixin of a frozen result with ``values``, ``parts`` and ``sources``."""

    #: what a figure is called in an unknown-name error ("RL figure").
    figure_kind = "figure"

    def __getitem__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise UnknownNameError(self.figure_kind, name, self.values) from None

    def describe_part(self, e) -> str:
        """A few words on a sub-estimate, shown next to its name ('' for none)."""
        return ""

    def explain(self, name: str) -> str:
        """How ``name`` is computed; where it comes from a sub-estimate, which one, and that
        estimate's own provenance tree."""
        value = self[name]
        how, part, quantity = self.sources.get(name, ("an input", None, None))
        lines = [f"{name} = {figure_text(value, unit_of(name))}", f"  = {how}"]
        if part is not None:
            e = self.parts[part]
            about = self.describe_part(e)
            about = f" ({about})" if about else ""
            if hasattr(e, "explain") and hasattr(e, "scenario"):
                lines.append(f"  from the {part} sub-estimate{about}, its {quantity}:")
                lines += ["    " + x for x in e.explain(quantity, depth=3).splitlines()]
            else:
                lines.append(f"  from the {part} sub-estimate{about}, its {quantity}")
        return "\n".join(lines)

    def sources_dict(self) -> dict:
        return {k: {"how": how, "sub_estimate": part, "quantity": q}
                for k, (how, part, q) in self.sources.items()}
