"""A scenario: Model x System x Plan x Workload, four frozen value objects.

The scenario's *discrete features* (architecture family, accelerator kind, workload kind, the
plan's features) decide which formulas apply; they are computed once per scenario and the
formula engine caches its resolved order per combination of them.
"""

from __future__ import annotations

import functools
from typing import Optional, Union

import numpy as np

from attrs import field, frozen

from . import _validators as v
from .accelerator import Accelerator, Efficiency
from .errors import ScenarioError
from .model import Model


@frozen
class System:
    """``devices`` accelerators of one kind, with their links, prices and power."""

    accelerator: Accelerator
    devices: int = field(default=1, validator=v.positive_int)
    efficiency: Optional[Efficiency] = None
    """Overrides the accelerator's achievable-efficiency factors when given."""

    price_usd_per_hour: Optional[float] = field(default=None, validator=v.optional_finite_positive)
    """Overrides the accelerator's price per device-hour when given."""

    @property
    def eff(self) -> Efficiency:
        """The efficiency factors in force."""
        return self.efficiency or self.accelerator.efficiency

    @property
    def device_price_usd_per_hour(self) -> Optional[float]:
        return self.price_usd_per_hour or self.accelerator.price_usd_per_hour

    @property
    def scale_up_devices(self) -> int:
        """Devices per scale-up domain (1 when the device has no scale-up link)."""
        link = self.accelerator.links.scale_up
        return (link.domain_devices or 1) if link else 1


class _CachedFeatures:
    """A slot for an instance's discrete features, computed once.

    Estimates ask for features on every call; the value objects are frozen, so computing them
    once is safe. The slot lives on this base class, outside attrs' fields, so it takes no
    part in equality, hashing, repr, ``evolve`` or unstructuring. Pickling and copying restore
    fields only: ``features()`` then computes the value again on first use.
    """

    __slots__ = ("_features",)

    def _cached_features(self):
        try:
            return self._features
        except AttributeError:
            features = self._compute_features()
            object.__setattr__(self, "_features", features)
            return features


def _stage_layers(instance, attribute, value) -> None:
    if value is None:
        return
    if type(value) is not tuple or not value or \
            any(type(n) is not int or n < 1 for n in value):
        raise ValueError(f"{attribute.name} must be a tuple of whole numbers >= 1 (layers "
                         f"of each pipeline stage), got {value!r}")


def pipeline_stage_layers(num_layers: int, pp: int,
                          pp_layers: Optional[tuple] = None) -> tuple:
    """Layers of each of ``pp`` pipeline stages, first to last.

    ``pp_layers`` when given; ``num_layers / pp`` each when ``pp`` divides the layers; else
    the embedding and the loss each count as one layer, as Megatron-LM's
    ``--account-for-embedding-in-pipeline-split`` and ``--account-for-loss-in-pipeline-split``
    count them (megatron/core/transformer/transformer_config.py), and the ``num_layers + 2``
    units are split as evenly as possible, a leftover unit going to the first stage, then the
    last, then the middle ones. Llama 3 405B's 126 layers over 16 stages come out 7, 8 x 14,
    7: the split Meta trained it with ("one Transformer layer less in the first and the last
    stages", Llama 3 paper, arXiv:2407.21783, Section 3.3.2). The fullest stage has
    ``ceil(num_layers / pp)`` layers, the fewest the layers allow.

    Raises ``ValueError`` when ``pp`` is more than the layers.
    """
    if pp_layers is not None:
        return pp_layers
    if num_layers % pp == 0:
        return (num_layers // pp,) * pp
    if pp > num_layers:
        raise ValueError(f"pp={pp} is more than the {num_layers} layers: a pipeline stage "
                         f"needs at least one")
    units, extra = divmod(num_layers + 2, pp)
    stage = [units] * pp
    order = [0, pp - 1] + list(range(1, pp - 1)) if pp > 1 else [0]
    for i in order[:extra]:
        stage[i] += 1
    # with pp <= num_layers (and pp not dividing them, so pp >= 3 or the leftover is 1)
    # every stage keeps a layer: the first and last take a leftover unit before the middle
    stage[0] -= 1
    stage[-1] -= 1
    return tuple(stage)


@frozen
class Plan(_CachedFeatures):
    """How the work is split across devices and where state lives."""

    tp: int = field(default=1, validator=v.positive_int)
    """Tensor-parallel degree (Megatron-style)."""

    pp: int = field(default=1, validator=v.positive_int)
    """Pipeline-parallel degree (stages)."""

    dp: int = field(default=1, validator=v.positive_int)
    """Data-parallel degree (replicas)."""

    ep: int = field(default=1, validator=v.positive_int)
    """Expert-parallel degree (MoE)."""

    sp: bool = False
    """Sequence parallelism alongside tensor parallelism."""

    micro_batch: int = field(default=1, validator=v.positive_int)
    """Sequences per micro-batch (training)."""

    interleave: int = field(default=1, validator=v.positive_int)
    """Model chunks per pipeline stage (interleaved 1F1B); 1 means plain 1F1B."""

    zero: int = field(default=0, validator=v.one_of(0, 1, 2, 3))
    """ZeRO stage 0-3."""

    recompute: str = field(default="none", validator=v.one_of("none", "selective", "full"))
    """Activation recomputation."""

    offload: str = field(default="none", validator=v.one_of("none", "host", "nvme"))
    """Where weights (and optimizer state) live when not on the device."""

    attention: str = field(default="flash", validator=v.one_of("flash", "unfused"))
    """Attention kernels: ``flash`` keeps the score matrix on chip and skips the masked half;
    ``unfused`` (Megatron-LM before FlashAttention) writes the full score matrix to memory and
    reads it back through softmax and dropout."""

    pp_layers: Optional[tuple] = field(default=None, validator=_stage_layers)
    """Layers of each pipeline stage, first to last, when the user gives them (``None``:
    ``num_layers / pp`` each, or :func:`pipeline_stage_layers`'s split when ``pp`` does not
    divide the layers)."""

    def __attrs_post_init__(self) -> None:
        if self.pp_layers is not None and len(self.pp_layers) != self.pp:
            raise ValueError(f"pp_layers has {len(self.pp_layers)} stages but pp is {self.pp}")
        # plans are few and long-lived: their features are computed when they are built
        try:
            object.__setattr__(self, "_features", self._compute_features())
        except Exception:  # noqa: BLE001 - an incomplete object fails in features(), as before
            pass

    @property
    def model_parallel(self) -> int:
        return self.tp * self.pp

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp

    def features(self) -> frozenset[str]:
        """The plan's discrete features, which formula conditions may name."""
        return self._cached_features()

    def _compute_features(self) -> frozenset[str]:
        return plan_features((self.tp, self.pp, self.dp, self.ep, self.interleave), sp=self.sp,
                             zero=self.zero, recompute=self.recompute, offload=self.offload,
                             attention=self.attention)


def plan_features(degrees: tuple, *, sp: bool, zero: int, recompute: str, offload: str,
                  attention: str) -> frozenset[str]:
    """The features of a plan with ``degrees`` ``(tp, pp, dp, ep, interleave)`` and these
    choices: what :meth:`Plan.features` gives (a search names them without making a Plan)."""
    return _features_of(tuple(d > 1 for d in degrees), bool(sp), zero, recompute, offload,
                        attention)


# one object per distinct feature set: a plan search keys its formulas by the features of a
# thousand combinations at a time, and a frozenset made once hashes once (3 ms a search)
@functools.lru_cache(maxsize=8192)
def _features_of(above_one: tuple, sp: bool, zero: int, recompute: str, offload: str,
                 attention: str) -> frozenset[str]:
    f = {name for name, more in zip(("tp", "pp", "dp", "ep", "interleave"), above_one) if more}
    if sp:
        f.add("sp")
    f.add(f"zero{zero}")
    f.add(f"recompute-{recompute}")
    f.add(f"offload-{offload}")
    f.add(f"attention-{attention}")
    return frozenset(f)


@frozen
class InferenceWorkload:
    """A static batch of requests: ``batch`` sequences, each a prompt then generated tokens.

    With a ``draft`` model the target decodes speculatively (Leviathan et al. 2023): the draft
    proposes ``draft_tokens`` tokens, the target checks them in one pass, and each is accepted
    with probability ``acceptance_rate``; the workload then has the feature ``speculative``.
    """

    kind = "inference"
    batch: int = field(default=1, validator=v.positive_int)
    prompt_tokens: int = field(default=512, validator=v.positive_int)
    output_tokens: int = field(default=256, validator=v.positive_int)
    draft: Optional[Model] = None
    """The draft model of speculative decoding, or ``None``."""

    draft_tokens: int = field(default=4, validator=v.positive_int)
    """Tokens the draft proposes per target step (gamma)."""

    acceptance_rate: float = field(default=0.7, validator=v.probability)
    """Probability that the target accepts each drafted token (alpha), 0 to 1."""

    def features(self) -> frozenset[str]:
        """The workload's discrete features (``speculative`` with a draft model)."""
        return _SPECULATIVE if self.draft is not None else _NONE


_SPECULATIVE = frozenset(("speculative",))
_FORWARD_ONLY = frozenset(("forward-only",))
_NONE: frozenset[str] = frozenset()


@frozen
class TrainingWorkload:
    """Training on ``tokens`` tokens in global batches of ``global_batch`` sequences."""

    kind = "training"
    global_batch: int = field(default=512, validator=v.positive_int)
    seq_len: int = field(default=2048, validator=v.positive_int)
    tokens: float = field(default=1e9, validator=v.finite_positive)
    forward_only: bool = False
    """Also price a forward-only pass over the tokens (a teacher producing distillation
    targets): the workload then has the feature ``forward-only``."""
    finetune: str = field(default="", validator=v.one_of("", "full", "lora", "qlora"))
    """Fine-tuning method (``full``, ``lora``, ``qlora``), or empty for pre-training: the
    workload then has the features of ``FINETUNE_FEATURES``."""
    lora_rank: int = 0
    """Rank of the low-rank adapters (``lora`` and ``qlora``)."""
    lora_targets: tuple = ()
    """Weight matrices of each layer that carry adapters (``q``, ``k``, ``v``, ``o``,
    ``gate``, ``up``, ``down``)."""

    def features(self) -> frozenset[str]:
        """The workload's discrete features (``forward-only``, fine-tuning's)."""
        if self.finetune:
            return FINETUNE_FEATURES[self.finetune]
        return _FORWARD_ONLY if self.forward_only else _NONE


#: features of each fine-tuning method. Adapter methods share ``finetune``, ``adapters`` and
#: ``frozen-base`` so that their formulas are more specific than any plan's override of the
#: same training quantity (ZeRO, offload, expert parallelism name at most three conditions).
FINETUNE_FEATURES = {
    "full": frozenset(("finetune", "finetune-full")),
    "lora": frozenset(("finetune", "adapters", "frozen-base", "finetune-lora")),
    "qlora": frozenset(("finetune", "adapters", "frozen-base", "finetune-qlora")),
}


Workload = Union[InferenceWorkload, TrainingWorkload]


@frozen
class Scenario(_CachedFeatures):
    """What to estimate: this model, on this system, with this plan, under this workload."""

    model: Model
    system: System
    plan: Plan = Plan()
    workload: Workload = InferenceWorkload()

    def features(self) -> tuple:
        """The key the engine caches its resolved formula order under."""
        return self._cached_features()

    def _compute_features(self) -> tuple:
        return scenario_features(self.model, self.system, self.plan, self.workload)

    def _known_features(self, features: tuple) -> "Scenario":
        """This scenario, told its features (``scenario_features`` of its parts, computed
        once for many scenarios that share model, system, plan and workload kind)."""
        object.__setattr__(self, "_features", features)
        return self

    def check(self) -> "Scenario":
        """Raise :class:`ScenarioError` if the plan cannot run on this system."""
        check_plan(self.plan, self.system)
        return self


def scenario_features(model: Model, system: System, plan: Plan, workload: Workload) -> tuple:
    """A scenario's discrete features: ``(family, accelerator kind, workload kind, the plan's,
    the model's and the workload's features)``."""
    plan_features = plan.features()
    extra = model.features() | workload.features()
    return (model.family, system.accelerator.kind, workload.kind,
            plan_features | extra if extra else plan_features)


def check_plan(plan: Plan, system: System) -> None:
    """Raise :class:`ScenarioError` if ``plan`` cannot run on ``system``."""
    if plan.devices > system.devices:
        raise ScenarioError(f"the plan needs tp x pp x dp = {plan.tp} x {plan.pp} x "
                            f"{plan.dp} = {plan.devices} devices but the system has "
                            f"{system.devices}")
    if system.devices % plan.devices:
        raise ScenarioError(f"{system.devices} devices are not a multiple of tp x pp x dp "
                            f"= {plan.devices}")


#: the plan fields that take a number per plan in a :class:`PlanArray`; the others are
#: discrete features, one value for every plan of the array.
PLAN_NUMBERS = ("tp", "pp", "dp", "ep", "micro_batch", "interleave")
PLAN_CHOICES = ("sp", "zero", "recompute", "offload", "attention")


class PlanArray:
    """Many plans that share their discrete features, evaluated by one compiled program.

    The degrees (``tp``, ``pp``, ``dp``, ``ep``, ``micro_batch``, ``interleave``) are 1-D
    integer arrays of the same length, one entry per plan; ``sp``, ``zero``, ``recompute``,
    ``offload`` and ``attention`` hold one value for all of them. Every plan of the array has
    the same :meth:`features` (which degrees exceed 1 included), so the formulas the engine
    picks for the first plan are the right ones for every plan: formulas read the degrees
    as they read a :class:`Plan`'s and compute with them as arrays.
    """

    __slots__ = PLAN_NUMBERS + PLAN_CHOICES + ("_features",)

    def __init__(self, tp, pp, dp, ep, micro_batch, interleave, *, sp: bool = False,
                 zero: int = 0, recompute: str = "none", offload: str = "none",
                 attention: str = "flash"):
        given = [np.asarray(a).ravel() for a in (tp, pp, dp, ep, micro_batch, interleave)]
        for field_name, a in zip(PLAN_NUMBERS, given):
            if a.dtype.kind not in "iu" and (a.dtype.kind != "f" or np.any(a != np.floor(a))):
                raise ScenarioError(f"PlanArray {field_name}: degrees are whole numbers, got "
                                    f"{a[:4]!r}")
        numbers = [a.astype(np.int64) for a in given]
        size = numbers[0].size
        for field_name, a in zip(PLAN_NUMBERS, numbers):
            if a.size != size:
                raise ScenarioError(f"PlanArray {field_name}: {a.size} values, expected "
                                    f"{size} (one per plan, as tp)")
            if size and a.min() < 1:
                raise ScenarioError(f"PlanArray {field_name}: every degree is a whole number "
                                    f">= 1, got {int(a.min())}")
        for field_name, a in zip(PLAN_NUMBERS, numbers):
            object.__setattr__(self, field_name, a)
        first = Plan(*(int(a[0]) for a in numbers[:4]), sp=sp, micro_batch=int(numbers[4][0]),
                     interleave=int(numbers[5][0]), zero=zero, recompute=recompute,
                     offload=offload, attention=attention) if size else Plan()
        features = first.features()
        for field_name in ("tp", "pp", "dp", "ep"):
            # a degree's feature is "> 1": all of the array's plans must agree on it
            if size and np.any((getattr(self, field_name) > 1) != (field_name in features)):
                raise ScenarioError(f"PlanArray {field_name}: plans with {field_name} = 1 and "
                                    f"{field_name} > 1 use different formulas; group them "
                                    f"apart (see Plan.features())")
        if size and np.any((numbers[5] > 1) != ("interleave" in features)):
            raise ScenarioError("PlanArray interleave: plans with and without interleaving "
                                "use different formulas; group them apart")
        for field_name, value in zip(PLAN_CHOICES, (sp, zero, recompute, offload, attention)):
            object.__setattr__(self, field_name, getattr(first, field_name))
        object.__setattr__(self, "_features", features)

    def __setattr__(self, name, value):
        raise AttributeError("PlanArray is immutable")

    def __len__(self) -> int:
        return int(self.tp.size)

    @property
    def model_parallel(self):
        return self.tp * self.pp

    @property
    def devices(self):
        return self.tp * self.pp * self.dp

    @property
    def pp_layers(self) -> None:
        """Stages split as :func:`pipeline_stage_layers` splits them by default (a search
        does not give its own split)."""
        return None

    def features(self) -> frozenset[str]:
        """The discrete features every plan of the array has (see :meth:`Plan.features`)."""
        return self._features

    def plan(self, i: int) -> Plan:
        """The ``i``-th plan, as a :class:`Plan`."""
        return Plan(int(self.tp[i]), int(self.pp[i]), int(self.dp[i]), int(self.ep[i]),
                    sp=self.sp, micro_batch=int(self.micro_batch[i]),
                    interleave=int(self.interleave[i]), zero=self.zero,
                    recompute=self.recompute, offload=self.offload, attention=self.attention)

    def one(self, i: int) -> Plan:
        """The ``i``-th plan, for a formula that takes one plan at a time (see
        :func:`per_plan`): its degrees, and the choices every plan of the array shares."""
        return self.plan(i)

    def take(self, index) -> "PlanArray":
        """The plans at ``index`` (an index array or a boolean mask)."""
        return PlanArray(*(getattr(self, f)[index] for f in PLAN_NUMBERS),
                         **{f: getattr(self, f) for f in PLAN_CHOICES})

    def __getstate__(self):
        return {f: getattr(self, f) for f in PLAN_NUMBERS + PLAN_CHOICES}

    def __setstate__(self, state):
        numbers = [state[f] for f in PLAN_NUMBERS]
        self.__init__(*numbers, **{f: state[f] for f in PLAN_CHOICES})  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"PlanArray({len(self)} plans, features={sorted(self._features)})"


def per_plan(function):
    """A formula whose arithmetic on plan degrees works on one plan at a time (integer
    layouts, searches over divisors): given a :class:`PlanArray`, it runs once per distinct
    plan (and distinct values of its other array arguments) and its results are gathered
    into an array. Given a :class:`Plan`, it is the formula itself."""

    @functools.wraps(function)
    def each(*args):
        at = next((i for i, a in enumerate(args) if isinstance(a, PlanArray)), None)
        if at is None:
            return function(*args)
        plans = args[at]
        n = len(plans)
        columns = [getattr(plans, f) for f in PLAN_NUMBERS]
        arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.shape == (n,)]
        key = np.stack(columns + [np.asarray(args[i], float) for i in arrays], axis=1)
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        results = []
        for i in first:
            one = list(args)
            one[at] = plans.one(int(i))
            for j in arrays:
                one[j] = args[j][i]
            results.append(function(*one))
        return np.asarray(results, dtype=float)[inverse.ravel()]

    return each
