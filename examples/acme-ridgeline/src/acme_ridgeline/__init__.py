"""ridgeline plugin for the Acme X1, a fictitious accelerator.

It shows the two things a hardware vendor usually contributes:

- an accelerator spec, as a TOML file shipped as package data (``acme-x1.toml``), registered
  through :func:`ridgeline_register_accelerators`;
- a formula that says where the device behaves differently from the generic roofline, for
  its own accelerator kind only (``@formula(kind="acme-npu")``), registered through
  :func:`ridgeline_register_formulas`.

The plugin imports only the public plugin API (``ridgeline`` and ``ridgeline.plugin``).
"""

from __future__ import annotations

from importlib.resources import files

import ridgeline
from ridgeline.plugin import formula, load_accelerator

__version__ = "0.1.0"

#: The fiction: the X1 stores weights in HBM in a lossless compressed format and decompresses
#: them on the fly between HBM and its compute units, so every byte read from HBM carries 1.3
#: bytes of data. (Invented for this example; no real device or datasheet is behind it.)
WEIGHT_COMPRESSION_RATIO = 1.3


@formula(kind="acme-npu")
def memory_bandwidth_bytes_per_s(peak_memory_bandwidth_bytes_per_s, system):
    """Effective streaming bandwidth of the X1: peak x memory efficiency x compression (1.3)."""
    # Same parameters as the built-in generic formula, so it works in every scenario the
    # built-in does; numpy arrays flow through the arithmetic unchanged (sweeps).
    return peak_memory_bandwidth_bytes_per_s * system.eff.memory * WEIGHT_COMPRESSION_RATIO


@ridgeline.hookimpl
def ridgeline_register_accelerators(register):
    register(load_accelerator(files(__package__) / "acme-x1.toml"))


@ridgeline.hookimpl
def ridgeline_register_formulas(register):
    register(memory_bandwidth_bytes_per_s)
