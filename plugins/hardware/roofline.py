"""What one device can do: achievable FLOP/s and bytes/s, and the roofline time of operations.

Generic formulas (no ``kind`` condition) apply to every accelerator kind; a kind that behaves
differently (weights in on-chip SRAM, a fixed-function ASIC) registers more specific ones.
"""

from __future__ import annotations

from ridgeline.plugin import ScenarioError, compute_precision, formula, hookimpl, roofline_s, rows


@formula(unit="", domain="flag")
def compute_dtype_fallback(model, system):
    """1 when the accelerator has no peak for the activations' precision and a wider one is used."""
    peaks = system.accelerator.peak_flops_per_s
    return float(compute_precision(model.activations_dtype, peaks) != model.activations_dtype)


@formula
def peak_flops_per_s(model, system):
    """Dense peak FLOP/s of one device in the precision the arithmetic runs in."""
    peaks = system.accelerator.peak_flops_per_s
    if not peaks:
        raise ScenarioError(f"{system.accelerator.id} publishes no dense peak FLOP/s, so its "
                            f"compute time cannot be estimated")
    return peaks[compute_precision(model.activations_dtype, peaks)]


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


def operations_time_s(ops, flops_per_s, bytes_per_s, overhead_s):
    """Sum of each operation's own roofline time, plus a fixed overhead per occurrence."""
    # The loop spells roofline_s out so that a single estimate (plain floats, dozens of
    # operations) pays no call per operation. It adds term by term from 0, as sum() did over
    # roofline_s's np.float64 terms (which sum() adds one by one, never with the compensated
    # float summation of Python 3.12+), so the result is the same to the bit.
    time_s = 0
    try:
        for _, flops, weight_bytes, activation_bytes, kv_bytes, count in rows(ops):
            compute_s = flops / flops_per_s
            memory_s = (weight_bytes + activation_bytes + kv_bytes) / bytes_per_s
            # as np.maximum: the larger, or NaN when either is NaN
            bound_s = memory_s if memory_s > compute_s or memory_s != memory_s else compute_s
            time_s = time_s + (count * bound_s + count * overhead_s)
        return time_s
    except ValueError:
        # arrays of more than one value (sweeps) have no truth value: numpy's maximum instead
        return sum([roofline_s(op, flops_per_s, bytes_per_s) + op.count * overhead_s
                    for op in ops])


@formula(workload="inference")
def prefill_compute_s(prefill_operations, compute_flops_per_s, memory_bandwidth_bytes_per_s, kernel_overhead_s):
    """Prefill time on one device: each operation's roofline time, summed."""
    return operations_time_s(prefill_operations, compute_flops_per_s,
                             memory_bandwidth_bytes_per_s, kernel_overhead_s)


@formula(workload="inference")
def decode_compute_s(decode_operations, compute_flops_per_s, memory_bandwidth_bytes_per_s, kernel_overhead_s):
    """One decode step on one device (average context): each operation's roofline, summed."""
    return operations_time_s(decode_operations, compute_flops_per_s,
                             memory_bandwidth_bytes_per_s, kernel_overhead_s)


@formula(workload="inference")
def first_decode_compute_s(first_decode_operations, compute_flops_per_s,
                           memory_bandwidth_bytes_per_s, kernel_overhead_s):
    """The first decode step (context = prompt) on one device."""
    return operations_time_s(first_decode_operations, compute_flops_per_s,
                             memory_bandwidth_bytes_per_s, kernel_overhead_s)


@formula(workload="training")
def training_forward_compute_s(training_forward_operations, compute_flops_per_s,
                               memory_bandwidth_bytes_per_s, kernel_overhead_s):
    """Forward pass of one micro-batch on one device: each operation's roofline, summed."""
    return operations_time_s(training_forward_operations, compute_flops_per_s,
                             memory_bandwidth_bytes_per_s, kernel_overhead_s)


FORMULAS = (compute_dtype_fallback, peak_flops_per_s, compute_flops_per_s,
            peak_memory_bandwidth_bytes_per_s, memory_bandwidth_bytes_per_s,
            memory_capacity_bytes, ridge_point_flops_per_byte, step_overhead_s, kernel_overhead_s,
            prefill_compute_s, decode_compute_s, first_decode_compute_s,
            training_forward_compute_s)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
