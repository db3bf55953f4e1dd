"""Numeric precisions: bytes per element and which peak FLOP/s rate each one runs at.

Quantised formats (int4, fp4) store a scale per group of weights; ``GROUP_SCALE_BYTES``
adds that overhead (one 16-bit scale per 128 weights, the common GPTQ/AWQ/MX-style layout
rounded to the usual group size), so int4 weights cost 0.5 + 2/128 bytes each.
"""

from __future__ import annotations

from typing import Mapping

from ._arguments import expected
from .errors import ScenarioError

PRECISIONS = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp6", "fp4", "int4",
              "mxfp4")

#: storage bytes per element, before group-scale overhead.
ELEMENT_BYTES = {"fp64": 8.0, "fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0,
                 "int8": 1.0, "fp6": 0.75, "fp4": 0.5, "int4": 0.5, "mxfp4": 0.5}

GROUP_SIZE = 128
#: one 16-bit scale per GROUP_SIZE elements for the sub-byte formats.
GROUP_SCALE_BYTES = {"fp6": 2.0 / GROUP_SIZE, "fp4": 2.0 / GROUP_SIZE, "int4": 2.0 / GROUP_SIZE,
                     # OCP Microscaling Formats (MX) Specification v1.0 (2023), Section 5:
                     # MXFP4 is a block of 32 E2M1 elements sharing one 8-bit E8M0 scale,
                     # 4 + 8/32 = 4.25 bits per element (gpt-oss ships its experts this way)
                     "mxfp4": 1.0 / 32}

#: where a precision's arithmetic goes when an accelerator has no peak for it: the next wider
#: format it is usually computed in (weight-only int4 runs through fp16 units, for example).
FALLBACK = {
    "mxfp4": ("fp4", "fp6", "fp8", "bf16", "fp16", "tf32", "fp32"),
    "fp4": ("fp6", "fp8", "bf16", "fp16", "tf32", "fp32"),
    "int4": ("int8", "fp8", "bf16", "fp16", "tf32", "fp32"),
    "fp6": ("fp8", "bf16", "fp16", "tf32", "fp32"),
    "fp8": ("bf16", "fp16", "tf32", "fp32"),
    "int8": ("fp8", "bf16", "fp16", "tf32", "fp32"),
    "bf16": ("fp16", "tf32", "fp32"),
    "fp16": ("bf16", "tf32", "fp32"),
    "tf32": ("bf16", "fp16", "fp32"),
    "fp32": ("tf32", "bf16", "fp16"),
    "fp64": ("fp32",),
}


#: floating-point formats that training computes and stores weights in. fp8 training keeps
#: fp32 master weights in the optimizer state (counted there whatever the precision); integer
#: and sub-byte formats are inference quantisation, not something a training step runs in.
TRAINING_PRECISIONS = ("bf16", "fp16", "fp32", "tf32", "fp8")


def check(name: str, *, what: str = "precision") -> str:
    """Return ``name`` if it is a known precision, else raise a clear error."""
    if type(name) is not str:  # a list or dict would not even hash
        raise expected(what, f"a precision name (one of {', '.join(PRECISIONS)})", name)
    if name not in ELEMENT_BYTES:
        raise ScenarioError(f"{what}: unknown precision {name!r}; expected one of "
                            f"{', '.join(PRECISIONS)}")
    return name


def check_training(name: str, *, what: str = "precision") -> str:
    """Return ``name`` if training can run in it, else raise a clear error naming ``what``."""
    if type(name) is str and name in TRAINING_PRECISIONS:
        return name
    allowed = ", ".join(TRAINING_PRECISIONS)
    if type(name) is not str or name not in ELEMENT_BYTES:
        raise ScenarioError(f"{what}: unknown precision {name!r}; expected one of {allowed}")
    raise ScenarioError(f"{what}: cannot train in {name}; expected one of {allowed} "
                        f"(integer and sub-byte formats quantise weights for serving)")


def bytes_per_element(name: str) -> float:
    """Bytes one element takes in memory, group scales included."""
    try:
        return _BYTES_PER_ELEMENT[name]  # every estimate asks a few dozen times
    except (KeyError, TypeError):
        return ELEMENT_BYTES[check(name)] + GROUP_SCALE_BYTES.get(name, 0.0)


#: formats whose blocks the matrix units of some accelerators take as they are stored (block
#: scales applied inside the MMA: NVIDIA Blackwell's block-scaled tcgen05.mma kinds take
#: MXFP4 operands with E8M0 scales; PTX ISA 8.7, "Block scaling"), at the rate of the
#: element format they name.
NATIVE_BLOCK_FORMATS = {"mxfp4": "fp4"}


def arithmetic_precision(weights: str, activations: str, peaks: Mapping[str, float]) -> str:
    """The precision the matrix arithmetic asks for: the activations', unless the weights
    are in a block format the accelerator's matrix units run natively (MXFP4 where it has an
    fp4 peak: the activations are quantised to the same format on the fly and the product
    runs at the fp4 rate)."""
    element = NATIVE_BLOCK_FORMATS.get(weights)
    if element is not None and (element in peaks or weights in peaks):
        return weights if weights in peaks else element
    return activations


def compute_precision(wanted: str, peaks: Mapping[str, float]) -> str:
    """The precision whose peak applies when arithmetic in ``wanted`` is asked for.

    Returns ``wanted`` itself when the accelerator has a peak for it, else the first of its
    fallbacks that it has.

    Raises:
        ScenarioError: the accelerator has no peak for ``wanted`` or any fallback.
    """
    if wanted in peaks:
        return wanted
    for alt in FALLBACK.get(wanted, ()):
        if alt in peaks:
            return alt
    raise ScenarioError(f"the accelerator publishes no peak FLOP/s for {wanted} or any "
                        f"precision it falls back to (it has: {', '.join(sorted(peaks)) or 'none'})")


_BYTES_PER_ELEMENT = {name: size + GROUP_SCALE_BYTES.get(name, 0.0)
                      for name, size in ELEMENT_BYTES.items()}
