"""TPU: collectives priced on the ICI torus, and data parallelism across slices over the DCN.

The chips of a TPU pod are wired to their nearest neighbours by ICI links: a 2-D torus on
v5e and v6e (4 links per chip), a 3-D torus on v4, v5p and 7x (6 links per chip) (Jouppi et
al. 2023, arXiv:2304.01433, sections 2-3; Austin et al. 2025, *How to Scale Your Model*, part 2
"How to Think About TPUs", https://jax-ml.github.io/scaling-book/tpus/). A registry file gives
the scale-up link's bandwidth per chip and direction summed over its links (v4: 6 x 45 GB/s
= 270 GB/s), so one link carries that figure / (2 x dims) in each direction.

**A collective on a torus** (the scaling book, part 3 "Sharded Matrices", sections on
AllGather and AllReduce; the dimension-ordered algorithm of Thakur, Rabenseifner & Gropp 2005)
runs as reduce-scatter then all-gather rings along the torus axes the group spans:

- along an axis closed by its wraparound link, the ring runs both ways at once, so each chip
  sends on 2 links: a phase moves ``(n-1)/n x S`` in ``floor(n/2)`` hops (the ring's diameter);
- along an axis without a wraparound (a line), the ring folds back on itself and each chip
  drives the equivalent of 1 link: the same bytes over half the bandwidth, in ``n-1`` hops
  (the scaling book: no wraparound "typically doubles the time");
- over several axes, the buffer is split and each piece reduces the axes in a different
  order, so the links of every axis the group spans work at once. The bandwidth term is each
  chip's egress bound, ``2(n-1)/n x S / (links x B_link)``, which this schedule meets when
  the axes are equally long (scaling book: a multi-axis AllGather takes ``V / (W x n_axes)``);
  the hops add up over the axes.

**How a group maps onto the torus.** A group of ``n`` chips fills as few axes as it can: the
largest factor of ``n`` that fits on one axis of the pod first (``round(domain^(1/dims))``
chips: 16 for v4's 16x16x16 pod and for the 16x16 pods of v5e and v6e; 18 for v5p's largest
slice of 6144 chips, whose real axes are 16, 16 and 24), then the next axis, and so on. The group's extent along an axis has its wraparound when it is a multiple of the
wraparound unit: 4 on 3-D pods, whose 4x4x4 cubes are joined by optical circuit switches that
close any axis that is a multiple of 4, and a full 16-chip axis on the 2-D pods of v5e and
v6e, which have no optical switches (scaling book part 2, the ICI bandwidth table's notes). A slice
shaped for the plan (PaLM's 12-way model parallelism along a 12-long axis) therefore gets
closed rings. Give ``tp_all_reduce_bandwidth_bytes_per_s`` with ``--set`` for another layout.

**Data parallelism across slices.** The ICI joins the chips of one slice (at most one pod);
slices talk over the data-centre network (DCN). Data parallelism is hierarchical, as PaLM ran
it over two TPU v4 pods (Chowdhery et al. 2022, arXiv:2204.02311, section 4): within each slice
the gradients are reduce-scattered and all-gathered over ICI, and only each chip's reduced
shard crosses the DCN to the same chip of the other slices. With ZeRO-3 the parameters stay
sharded within a slice (each slice holds a full copy, as each PaLM pod did), so the parameter
all-gathers never cross the DCN. Each slice holds as many whole data-parallel replicas as fit
in one scale-up domain and divide the data-parallel degree.

A TPU-kind device whose scale-up link is not a torus gets the generic pricing of
:mod:`ridgeline.plugins.parallel.collectives` for tensor and pipeline parallelism.
"""

from __future__ import annotations

import math

from ridgeline.plugin import ScenarioError, bytes_per_element, formula, hookimpl, per_plan
from ridgeline.plugins.parallel.collectives import (all_reduce_hops, all_reduce_s,
                                                     group_link)

#: dimensions of each torus topology.
TORUS_DIMS = {"torus2d": 2, "torus3d": 3}

#: chips along an axis that the optical circuit switches of a 3-D pod can close into a ring:
#: one 4x4x4 cube's edge. The scaling book, part 2: a wraparound exists "on training chips
#: (v*p) when we have an axis which is a multiple of 4", and "A 4x4x4 or 4x4x8 will still have
#: wraparounds along all axes provided by optical switches".
CUBE_EDGE_CHIPS = 4


def torus_dims(system) -> int:
    """Dimensions of the device's ICI torus (2 or 3), or 0 when its scale-up link is not one."""
    link = system.accelerator.links.scale_up
    return TORUS_DIMS.get(link.topology, 0) if link is not None else 0


def axis_chips(system) -> int:
    """Chips along one axis of the pod: the ``dims``-th root of the scale-up domain (16 for a
    4096-chip 3-D pod and for a 256-chip 2-D pod)."""
    dims = torus_dims(system)
    return max(1, round(system.scale_up_devices ** (1.0 / dims))) if dims else 1


def wraparound_chips(system) -> int:
    """A group's extent along an axis closes into a ring when it is a multiple of this: a
    cube's edge on 3-D pods (optical switches), the whole axis on 2-D pods (no switches)."""
    return CUBE_EDGE_CHIPS if torus_dims(system) == 3 else axis_chips(system)


def torus_layout(n: int, dims: int, axis: int, wrap: int) -> list[tuple[int, bool]]:
    """``(extent, closed)`` for each torus axis a group of ``n`` chips spans.

    The group fills as few axes as it can: on each axis, the largest factor of what is left
    that fits on an axis (``axis`` chips); the last axis takes the rest, as does an axis for
    which nothing but 1 fits (a prime larger than the axis: the slice is longer along it).
    An extent is ``closed`` (a ring through a wraparound link) when it is a multiple of
    ``wrap``, open (a line) otherwise.
    """
    layout, rest = [], n
    for i in range(dims):
        if rest == 1:
            break
        if i == dims - 1:
            extent = rest
        else:
            extent = max(d for d in range(1, min(rest, axis) + 1) if rest % d == 0)
            if extent == 1:
                extent = rest
        layout.append((extent, extent % wrap == 0))
        rest //= extent
    return layout


def torus_links(layout) -> int:
    """ICI links each chip drives in a collective over ``layout``: 2 per closed axis (the ring
    runs both ways), 1 per open one."""
    return sum(2 if closed else 1 for _, closed in layout)


def torus_phase_hops(layout) -> int:
    """Hops of one reduce-scatter or all-gather over ``layout``: the diameter of each axis's
    ring (``floor(n/2)``) or line (``n-1``), summed over the axes, which run one after another
    for each piece of the buffer."""
    return sum(extent // 2 if closed else extent - 1 for extent, closed in layout)


def ici_link_bandwidth(system) -> float:
    """One ICI link's bandwidth in one direction x the network efficiency."""
    link = system.accelerator.links.scale_up
    return link.bandwidth_bytes_per_s / (2 * torus_dims(system)) * system.eff.network


def group_layout(system, n: int, stride: int = 1):
    """The torus layout of a group of ``n`` chips ``stride`` apart, or ``None`` when the device
    has no torus or the group does not stay inside one scale-up domain."""
    dims = torus_dims(system)
    if not dims or n * stride > system.scale_up_devices:
        return None
    return torus_layout(n, dims, axis_chips(system), wraparound_chips(system))


def torus_all_reduce_s(size_bytes, layout, link_bandwidth, hop_latency_s):
    """All-reduce of ``size_bytes`` per chip over a group laid out as ``layout`` (see the
    module's docstring): the egress-bound bandwidth term plus two phases of hops."""
    n = math.prod(extent for extent, _ in layout)
    if n <= 1:
        return 0.0 * size_bytes
    return 2.0 * (n - 1) / n * size_bytes / (torus_links(layout) * link_bandwidth) + \
        2.0 * torus_phase_hops(layout) * hop_latency_s


def ring_all_reduce_s(size_bytes, n, link_bandwidth, hop_latency_s):
    """The same all-reduce on a plain bidirectional ring of ``n`` chips over the same links:
    2 links per chip, ``floor(n/2)`` hops per phase. A torus layout is never slower."""
    return torus_all_reduce_s(size_bytes, [(n, True)], link_bandwidth, hop_latency_s)


# ---- tensor and pipeline parallelism: the quantities collectives.py prices generically


@formula("tp_all_reduce_bandwidth_bytes_per_s", kind="tpu", plan="tp")
@per_plan  # torus layouts: integer factorisations, one plan at a time
def tp_all_reduce_bandwidth_bytes_per_s_torus(system, plan):
    """Tensor-parallel all-reduce bandwidth on the ICI torus: links driven x one link's rate.

    Each chip drives 2 links per axis the group closes into a ring and 1 per open axis; one
    link's rate is the scale-up figure / (2 x dims) x the network efficiency. Off a torus,
    or across slices: the generic link."""
    layout = group_layout(system, plan.tp)
    if layout is None:
        return group_link(system, plan.tp)[0]
    return torus_links(layout) * ici_link_bandwidth(system)


@formula("tp_all_reduce_latency_s", kind="tpu", plan="tp")
@per_plan  # torus layouts: integer factorisations, one plan at a time
def tp_all_reduce_latency_s_torus(system, plan):
    """Tensor-parallel all-reduce latency on the torus: 2 phases of hops x ICI hop latency.

    A phase takes each axis's ring diameter (floor(n/2)), or n - 1 on an axis without a
    wraparound, summed over the axes."""
    layout = group_layout(system, plan.tp)
    if layout is None:
        return all_reduce_hops(plan.tp) * group_link(system, plan.tp)[1]
    return 2.0 * torus_phase_hops(layout) * system.accelerator.links.scale_up.latency_s


@formula("pp_point_to_point_bandwidth_bytes_per_s", kind="tpu", plan="pp")
@per_plan  # torus layouts: integer factorisations, one plan at a time
def pp_point_to_point_bandwidth_bytes_per_s_torus(system, plan):
    """Send to the next pipeline stage on the torus: one ICI link x network efficiency.

    Neighbouring stages sit next to each other, so each chip sends its share to its
    counterpart over one link. Across slices: the DCN."""
    if group_layout(system, 2, stride=plan.tp) is None:
        return group_link(system, 2, stride=plan.tp)[0]
    return ici_link_bandwidth(system)


# ---- data parallelism: within a slice over ICI, across slices over the DCN


def slice_replicas(system, plan) -> int:
    """Data-parallel replicas per slice: the most that fit in one scale-up domain and divide
    the data-parallel degree (1 when even one replica does not fit)."""
    model_parallel = plan.tp * plan.pp
    fit = max(1, system.scale_up_devices // model_parallel)
    return max(d for d in range(1, min(plan.dp, fit) + 1) if plan.dp % d == 0)


def _gradient_bytes(model, plan, params, pp_shards):
    """Gradient bytes each chip holds before synchronisation (its tp x pp shard: the fullest
    pipeline stage's)."""
    return params / (plan.tp * pp_shards) * bytes_per_element(model.activations_dtype)


@formula(workload="training", kind="tpu", plan="dp")
@per_plan  # torus layouts: integer factorisations, one plan at a time
def gradient_sync_in_slice_s(model, plan, system, params, pp_shards):
    """Gradient sync among the data-parallel replicas in one slice, over the ICI torus.

    A reduce-scatter + all-gather priced on the torus (on the generic link off one); ZeRO-3
    adds the parameter all-gather (1.5x), as in the generic formula."""
    replicas = slice_replicas(system, plan)
    size = _gradient_bytes(model, plan, params, pp_shards)
    volume = 1.5 if plan.zero == 3 else 1.0
    if replicas == 1:
        return 0.0 * size
    stride = plan.tp * plan.pp
    layout = group_layout(system, replicas, stride=stride)
    if layout is None:
        bandwidth, latency = group_link(system, replicas, stride=stride)
        return volume * all_reduce_s(size, replicas, bandwidth, latency)
    return volume * torus_all_reduce_s(size, layout, ici_link_bandwidth(system),
                                       system.accelerator.links.scale_up.latency_s)


@formula(workload="training", kind="tpu", plan="dp")
@per_plan  # torus layouts: integer factorisations, one plan at a time
def gradient_sync_across_slices_s(model, plan, system, params, pp_shards):
    """Gradient sync across slices: each chip's reduced shard, all-reduced over the DCN.

    The shard is 1/(replicas per slice) of the chip's gradients; it is all-reduced with the
    same chip of every other slice at the DCN rate per chip x the network efficiency. None
    when one slice holds every replica."""
    replicas = slice_replicas(system, plan)
    slices = plan.dp // replicas
    shard = _gradient_bytes(model, plan, params, pp_shards) / replicas
    if slices == 1:
        return 0.0 * shard
    dcn = system.accelerator.links.scale_out
    if dcn is None:
        raise ScenarioError(
            f"dp={plan.dp} needs {slices} slices of {system.accelerator.id} (one holds "
            f"{replicas} replica(s) of tp x pp = {plan.tp * plan.pp} chips in its "
            f"{system.scale_up_devices}-chip domain), and its registry file gives no "
            f"data-centre network (scale-out) link to join them; add [links.scale_out]")
    return all_reduce_s(shard, slices, dcn.bandwidth_bytes_per_s * system.eff.network,
                        dcn.latency_s)


@formula("gradient_sync_s", workload="training", kind="tpu", plan="dp")
def gradient_sync_s_tpu(gradient_sync_in_slice_s, gradient_sync_across_slices_s):
    """Hierarchical data-parallel sync: within each slice over ICI, then across over DCN."""
    return gradient_sync_in_slice_s + gradient_sync_across_slices_s


FORMULAS = (tp_all_reduce_bandwidth_bytes_per_s_torus, tp_all_reduce_latency_s_torus,
            pp_point_to_point_bandwidth_bytes_per_s_torus, gradient_sync_in_slice_s,
            gradient_sync_across_slices_s, gradient_sync_s_tpu)


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
