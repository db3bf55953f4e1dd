"""The accelerator: what one device can hold, move and compute.

An :class:`Accelerator` is data, loaded from a registry TOML file (see
``ridgeline/registry/accelerators/nvidia-h100-sxm.toml`` for a complete one). Fields carry
their unit in the name; files may write human units (``"80 GiB"``, ``"3.35 TB/s"``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, Optional

from attrs import field, frozen

from . import _validators as v
from ._validators import Bytes, BytesPerS, FlopsPerS, Seconds, UsdPerHour, Watts
from .errors import ScenarioError
from .precision import ELEMENT_BYTES

KINDS = ("gpu", "tpu", "wafer-scale", "asic", "lpu")
"""Accelerator kinds the built-in plugins know. Plugins may introduce others."""


@frozen
class MemoryTier:
    """One memory tier of an accelerator (HBM, on-chip SRAM, an external weight store)."""

    name: str = field(validator=v.identifier)
    """Tier name: ``hbm`` (device DRAM, GDDR included), ``sram``, ``ddr``, ``external``."""

    capacity_bytes: Bytes = field(validator=v.finite_positive)
    """Capacity in bytes (TOML may say ``"80 GiB"``)."""

    bandwidth_bytes_per_s: Optional[BytesPerS] = field(default=None,
                                                       validator=v.optional_finite_positive)
    """Sustained peak bandwidth in bytes/s (TOML may say ``"3.35 TB/s"``); absent if unpublished."""


@frozen
class Link:
    """A kind of link between devices, or between a device and its host."""

    bandwidth_bytes_per_s: BytesPerS = field(validator=v.finite_positive)
    """Per device, per direction, summed over the device's links of this kind."""

    latency_s: Seconds = field(default=5e-6, validator=v.finite_non_negative)
    """Per-message latency (the alpha of the alpha-beta model). Default 5 us."""

    domain_devices: Optional[int] = field(default=None, validator=v.optional_positive_int)
    """Largest group of devices this link joins directly (the scale-up domain)."""

    topology: str = field(default="switch",
                          validator=v.one_of("switch", "mesh", "ring", "torus2d", "torus3d", "none"))
    """How the devices are wired: through a switch, a full mesh, a ring or a torus."""

    name: str = ""
    """What it is called (``"NVLink 4.0"``, ``"PCIe Gen5 x16"``)."""


@frozen
class Links:
    """The three kinds of links a device has."""

    scale_up: Optional[Link] = None
    """NVLink, Infinity Fabric, ICI, NeuronLink: the fast domain."""

    scale_out: Optional[Link] = None
    """The network between scale-up domains (InfiniBand, Ethernet), per device."""

    host: Optional[Link] = None
    """The link to host memory (PCIe, NVLink-C2C)."""


@frozen
class Efficiency:
    """Fractions of peak that real kernels reach on this device, and fixed overheads.

    These are data, not constants in code: a vendor sets them per device, a user may override
    them on the command line. The defaults are the middle of the ranges the reference formula
    sheet gives for well-tuned kernels on current GPUs (matmuls reach 70-90 % of dense peak,
    HBM streams 80-90 % of its peak bandwidth, NCCL all-reduce 70-85 % of link rate); the
    reasoning for each registry value is written in its file.
    """

    compute: float = field(default=0.75, validator=v.fraction)
    """Achievable fraction of peak FLOP/s for large matrix multiplications."""

    memory: float = field(default=0.85, validator=v.fraction)
    """Achievable fraction of peak memory bandwidth for streaming reads."""

    network: float = field(default=0.75, validator=v.fraction)
    """Achievable fraction of link bandwidth for large collectives."""

    host_link: float = field(default=0.85, validator=v.fraction)
    """Achievable fraction of the host link's nominal rate."""

    usable_memory: float = field(default=0.9, validator=v.fraction)
    """Fraction of device memory a framework can use for weights, KV cache and activations;
    the rest is CUDA context, allocator fragmentation and workspace (vLLM's default
    ``gpu_memory_utilization`` is 0.9)."""

    kernel_overhead_s: Seconds = field(default=4e-6, validator=v.finite_non_negative)
    """Fixed time each operation (kernel) adds beyond its roofline: launch, ramp-up and tail.
    A few microseconds on GPUs; it matters only when kernels are tiny (decode at small
    batch), where formulas.md 6.3 notes launch overheads dominate."""

    step_overhead_s: Seconds = field(default=0.0, validator=v.finite_non_negative)
    """Fixed time per model step (kernel launches, scheduling) not covered by the roofline."""


@frozen
class Accelerator:
    """One accelerator model, as a registry file describes it."""

    id: str = field(validator=v.identifier)
    """Registry id; equals the file stem (``nvidia-h100-sxm``)."""

    name: str = field(validator=v.non_empty_str)
    """Product name as the vendor writes it."""

    vendor: str = field(validator=v.non_empty_str)
    kind: str = field(validator=v.identifier)
    """``gpu``, ``tpu``, ``wafer-scale``, ``asic``, ``lpu`` (built-in kinds) or a plugin's own."""

    sources: tuple[str, ...] = field(converter=tuple)
    """Where the figures come from (URLs or datasheet names); at least one."""

    memory: tuple[MemoryTier, ...] = field(converter=tuple)
    """Memory tiers, the one that holds the weights first (see ``main_memory``)."""

    peak_flops_per_s: Mapping[str, FlopsPerS] = field(
        factory=dict, converter=lambda d: MappingProxyType(dict(d)))
    """Dense (not sparse) peak FLOP/s by precision (``bf16``, ``fp8``, ...)."""

    aliases: tuple[str, ...] = field(default=(), converter=tuple, validator=v.identifiers)
    """Short names (``h100``)."""

    links: Links = Links()
    efficiency: Efficiency = Efficiency()

    power_w: Optional[Watts] = field(default=None, validator=v.optional_finite_positive)
    """Board power (TDP); whole-system power for wafer-scale systems."""

    price_usd_per_hour: Optional[UsdPerHour] = field(default=None,
                                                     validator=v.optional_finite_positive)
    """A representative rental price per device-hour."""

    runs_families: Optional[tuple[str, ...]] = field(
        default=None, converter=lambda x: None if x is None else tuple(x))
    """Architecture families this device can run; ``None`` means any (fixed-function ASICs
    list theirs)."""

    replaces: Optional[str] = None
    """Id of an accelerator this one deliberately replaces (a user's corrected copy)."""

    launch_year: Optional[int] = field(default=None, validator=v.optional_positive_int)
    notes: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.sources or not all(isinstance(s, str) and s.strip() for s in self.sources):
            raise ValueError("sources must list at least one URL or datasheet")
        if not self.memory:
            raise ValueError("memory must list at least one tier")
        names = [t.name for t in self.memory]
        if len(set(names)) != len(names):
            raise ValueError(f"memory tiers must have distinct names, got {names}")
        for precision, peak in self.peak_flops_per_s.items():
            if precision not in ELEMENT_BYTES:
                raise ValueError(f"peak_flops_per_s.{precision}: unknown precision; expected one "
                                 f"of {', '.join(ELEMENT_BYTES)}")
            v.finite_positive(self, _Named(f"peak_flops_per_s.{precision}"), peak)

    @property
    def main_memory(self) -> MemoryTier:
        """The tier that holds the weights (the first one listed)."""
        return self.memory[0]

    def tier(self, name: str) -> Optional[MemoryTier]:
        """The memory tier called ``name``, or ``None``."""
        for t in self.memory:
            if t.name == name:
                return t
        return None

    def peak(self, precision: str) -> float:
        """Dense peak FLOP/s for ``precision`` (no fallback; see :mod:`ridgeline.precision`)."""
        try:
            return self.peak_flops_per_s[precision]
        except KeyError:
            raise ScenarioError(f"{self.id} publishes no {precision} peak") from None


class _Named:
    def __init__(self, name: str):
        self.name = name
