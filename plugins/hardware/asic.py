"""Fixed-function transformer ASICs (Etched Sohu-like) and other ``kind = "asic"`` devices.

What sets these devices apart for an estimate:

- **They run only the architectures they were built for.** An accelerator lists them in
  ``runs_families``; ``ridgeline.infer``/``train`` (and so the command line) refuse any other
  family up front, before anything is estimated: "etched-sohu does not run the 'ssm'
  architecture (it runs: dense, moe)". A family that extends one the chip runs (``distilled``
  extends ``dense``) is that architecture and runs.
- **Their vendors often publish little.** Etched publishes Sohu's HBM capacity and
  throughput claims, but no FLOP/s and no memory bandwidth. Memory, fit and the largest batch
  are still estimated; every time then says what is missing and how to give it
  (``--set peak_flops_per_s=... --set peak_memory_bandwidth_bytes_per_s=...``, or
  ``inputs={...}`` in Python), instead of failing.
- **Very large batches** are the point of such a chip (Etched: thousands of sequences per
  weight read). Nothing here caps the batch: ``max_batch`` is the generic memory bound, and
  ``--batch max`` uses it.

Where an ASIC does publish its peaks (SambaNova SN40L), the estimates are exactly those of the
generic roofline formulas.
"""

from __future__ import annotations

from ridgeline.plugin import ScenarioError, compute_precision, formula, hookimpl

KIND = "asic"


def _missing(system, what: str, name: str) -> str:
    """The message for a figure the vendor left out: what, and how to give an assumed one."""
    return (f"{system.accelerator.id} publishes {what}, so its times cannot be estimated; "
            f"give an assumed figure with --set {name}=... (Python: inputs={{'{name}': ...}})")


@formula("peak_flops_per_s", kind=KIND)
def asic_peak_flops_per_s(model, system):
    """Dense peak FLOP/s in the arithmetic's precision, as published; where the vendor
    publishes none, an error naming what is missing and how to give it."""
    peaks = system.accelerator.peak_flops_per_s
    if not peaks:
        raise ScenarioError(_missing(system, "no dense peak FLOP/s", "peak_flops_per_s"))
    return peaks[compute_precision(model.activations_dtype, peaks)]


@formula("peak_memory_bandwidth_bytes_per_s", kind=KIND)
def asic_peak_memory_bandwidth_bytes_per_s(system):
    """Peak bandwidth of the memory that holds the weights, as published; where the vendor
    publishes none, an error naming what is missing and how to give it."""
    bandwidth = system.accelerator.main_memory.bandwidth_bytes_per_s
    if bandwidth is None:
        raise ScenarioError(_missing(
            system, f"no bandwidth for its {system.accelerator.main_memory.name} memory",
            "peak_memory_bandwidth_bytes_per_s"))
    return bandwidth


FORMULAS = (asic_peak_flops_per_s, asic_peak_memory_bandwidth_bytes_per_s)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
