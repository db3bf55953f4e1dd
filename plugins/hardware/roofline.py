"""What one device can do: achievable FLOP/s and bytes/s, and the roofline time of operations.

Generic formulas (no ``kind`` condition) apply to every accelerator kind; a kind that behaves
differently (weights in on-chip SRAM, a fixed-function ASIC) registers more specific ones.
"""

from __future__ import annotations

from ridgeline.plugin import (ScenarioError, arithmetic_precision, bytes_per_element,
                              compute_precision, formula,
                              hookimpl, operations_time_s)


@formula(unit="", domain="flag")
def compute_dtype_fallback(model, system):
    """1 when the accelerator has no peak for the activations' precision and a wider one is used."""
    peaks = system.accelerator.peak_flops_per_s
    wanted = arithmetic_precision(model.weights_dtype, model.activations_dtype, peaks)
    return float(compute_precision(wanted, peaks) != wanted)


@formula
def peak_flops_per_s(model, system):
    """Dense peak FLOP/s of one device in the precision the arithmetic runs in."""
    peaks = system.accelerator.peak_flops_per_s
    if not peaks:
        raise ScenarioError(f"{system.accelerator.id} publishes no dense peak FLOP/s, so its "
                            f"compute time cannot be estimated")
    return peaks[compute_precision(
        arithmetic_precision(model.weights_dtype, model.activations_dtype, peaks), peaks)]


@formula
def compute_flops_per_s(peak_flops_per_s, system):
    """Achievable FLOP/s: peak x the accelerator's compute efficiency."""
    return peak_flops_per_s * system.eff.compute


@formula
def peak_memory_bandwidth_bytes_per_s(system):
    """Peak bandwidth of the memory tier that holds the weights."""
    bw = system.accelerator.main_memory.bandwidth_bytes_per_s
    if bw is None:
        raise ScenarioError(f"{system.accelerator.id} publishes no bandwidth for its "
                            f"{system.accelerator.main_memory.name} memory")
    return bw


@formula
def memory_bandwidth_bytes_per_s(peak_memory_bandwidth_bytes_per_s, system):
    """Achievable streaming bandwidth: peak x the accelerator's memory efficiency."""
    return peak_memory_bandwidth_bytes_per_s * system.eff.memory


@formula
def memory_capacity_bytes(system):
    """Capacity of the memory tier that holds the weights, on one device."""
    return system.accelerator.main_memory.capacity_bytes


@formula(unit="FLOP/B")
def ridge_point_flops_per_byte(compute_flops_per_s, memory_bandwidth_bytes_per_s):
    """Arithmetic intensity above which an operation is compute-bound on this device."""
    return compute_flops_per_s / memory_bandwidth_bytes_per_s


@formula
def step_overhead_s(system):
    """Fixed time per model step (kernel launches, scheduling), from the accelerator data."""
    return system.eff.step_overhead_s


@formula
def kernel_overhead_s(system):
    """Fixed time each operation adds beyond its roofline (launch, ramp-up, tail)."""
    return system.eff.kernel_overhead_s


#: vector instructions that turn one stored weight into the arithmetic precision: int8 and
#: fp8 convert, then scale (2); int4 and fp4 also shift and mask their nibble out (4). Counted
#: from the arithmetic of the conversion, not measured.
DEQUANT_INSTRUCTIONS = {"int8": 2.0, "fp8": 2.0, "fp6": 4.0, "int4": 4.0, "fp4": 4.0,
                        # the nibble out, converted, and scaled by its block's power of two
                        "mxfp4": 4.0}

#: block formats the matrix units read as stored where they run their element format
#: (``ridgeline.precision.NATIVE_BLOCK_FORMATS``): no dequantisation pass.
NATIVE_BLOCK_ELEMENTS = {"mxfp4": "fp4"}


@formula(unit="s/B")
def weight_dequant_s_per_byte(model, system):
    """Vector-unit seconds to dequantise one byte of weights stored narrower than the
    arithmetic runs (weight-only quantisation: int8/int4/fp8 weights, 16-bit activations),
    per pass over a weight tile; 0 when weights are used as stored.

    Each weight is converted and scaled (``DEQUANT_INSTRUCTIONS``) on the vector units, at one
    instruction per lane per cycle: half the fp32 FLOP/s peak (an FMA counts 2). The
    conversion waits on the load and the product waits on the conversion, so a pass adds to
    the weights' memory time rather than hiding under it: published batch-1 measurements of
    weight-only kernels stay well under the bandwidth roofline (gpt-fast's int8 and int4
    Llama-2-7B on an A100 reach about 65% and 45% of it). Over many tokens the pass repeats
    per block of tokens, beside the matrix units (see ``operations_time_s``). An accelerator
    without an fp32 peak in its registry file gets no such term.
    """
    peaks = system.accelerator.peak_flops_per_s
    stored = model.weights_dtype
    compute = compute_precision(arithmetic_precision(stored, model.activations_dtype, peaks),
                                peaks) if peaks else None
    instructions = DEQUANT_INSTRUCTIONS.get(stored, 0.0)
    vector = peaks.get("fp32") if peaks else None
    if not instructions or compute == stored or not vector or \
            NATIVE_BLOCK_ELEMENTS.get(stored) == compute or \
            bytes_per_element(stored) >= bytes_per_element(compute):
        return 0.0
    return instructions / bytes_per_element(stored) / (vector / 2.0)


def _weight_element_bytes(model):
    return bytes_per_element(model.weights_dtype)


@formula(workload="inference")
def prefill_compute_s(prefill_operations, compute_flops_per_s, memory_bandwidth_bytes_per_s,
                      kernel_overhead_s, weight_dequant_s_per_byte, model):
    """Prefill time on one device: each operation's roofline time, summed."""
    return operations_time_s(prefill_operations, compute_flops_per_s,
                             memory_bandwidth_bytes_per_s, kernel_overhead_s,
                             dequant_s_per_byte=weight_dequant_s_per_byte,
                             weight_bytes_per_element=_weight_element_bytes(model))


@formula(workload="inference")
def decode_compute_s(decode_operations, compute_flops_per_s, memory_bandwidth_bytes_per_s,
                     kernel_overhead_s, weight_dequant_s_per_byte, model):
    """One decode step on one device (average context): each operation's roofline, summed."""
    return operations_time_s(decode_operations, compute_flops_per_s,
                             memory_bandwidth_bytes_per_s, kernel_overhead_s,
                             dequant_s_per_byte=weight_dequant_s_per_byte,
                             weight_bytes_per_element=_weight_element_bytes(model))


@formula(workload="inference")
def first_decode_compute_s(first_decode_operations, compute_flops_per_s,
                           memory_bandwidth_bytes_per_s, kernel_overhead_s,
                           weight_dequant_s_per_byte, model):
    """The first decode step (context = prompt) on one device."""
    return operations_time_s(first_decode_operations, compute_flops_per_s,
                             memory_bandwidth_bytes_per_s, kernel_overhead_s,
                             dequant_s_per_byte=weight_dequant_s_per_byte,
                             weight_bytes_per_element=_weight_element_bytes(model))


@formula(workload="training")
def training_forward_compute_s(training_forward_operations, compute_flops_per_s,
                               memory_bandwidth_bytes_per_s, kernel_overhead_s):
    """Forward pass of one micro-batch on one device: each operation's roofline, summed."""
    return operations_time_s(training_forward_operations, compute_flops_per_s,
                             memory_bandwidth_bytes_per_s, kernel_overhead_s)


FORMULAS = (weight_dequant_s_per_byte, compute_dtype_fallback, peak_flops_per_s, compute_flops_per_s,
            peak_memory_bandwidth_bytes_per_s, memory_bandwidth_bytes_per_s,
            memory_capacity_bytes, ridge_point_flops_per_byte, step_overhead_s, kernel_overhead_s,
            prefill_compute_s, decode_compute_s, first_decode_compute_s,
            training_forward_compute_s)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
