"""One pass of the formulas over plans of many feature combinations: how a plan search
evaluates thousands of plans in a few hundred formula calls.

A :class:`~ridgeline.engine.Program` serves plans that share their discrete features (sp,
recompute, ZeRO stage, offload, attention, and whether each degree exceeds 1). A search
tries a couple of hundred such combinations per accelerator, a few dozen plans each: one
program per combination would call every formula a couple of hundred times on short arrays,
and the calls, not the arithmetic, would take the time. Here each formula runs once on
every plan whose combination picks it (a *cell* of combinations), and plans are split only
where they must be:

- where combinations pick different formulas for a quantity: a cell per formula;
- where a formula reads a choice on which its cell's plans differ (``plan.zero``,
  ``"interleave" in plan.features()``): the read raises :class:`MixedChoice` and the cell is
  split by that choice's values, so a formula never sees two values of a choice, as in a
  program of its own;
- where a formula raises on a cell of several combinations: each combination runs alone,
  as it would in its own program (a :class:`ScenarioError` then leaves the quantity out for
  those plans only).

A quantity computed in several cells is joined into one array over their plans, so what
follows runs once again. A formula that cannot take such an array (a Python ``if`` on a
value that was one number per combination) runs again per piece; a combination whose
formulas fail even alone is reported back, for its own program to evaluate.

Values are arrays with one entry per plan of the cell, arrays with one entry per distinct
block of degrees (what depends on the degrees alone, see :class:`_Pass`), or numbers shared
by the cell; any other value (an operation table, say) belongs to its cell and is computed
again for a smaller one. Cells are bit masks over the combinations.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from .errors import CycleError, ScenarioError
from .scenario import PLAN_CHOICES, PLAN_NUMBERS, Plan, PlanArray, plan_features

__all__ = ["MixedChoice", "Combination", "PassProgram", "evaluate_combinations"]


class MixedChoice(Exception):
    """A formula read a choice on which the plans it was given differ. Internal to a pass:
    the pass catches it and splits the plans (a formula should let it propagate)."""

    def __init__(self, key: Any):
        super().__init__(f"the plans differ in {key!r}")
        self.key = key


class Combination(NamedTuple):
    """Plans that share their discrete features and their system: one block of a pass."""

    choices: dict
    """``sp``, ``zero``, ``recompute``, ``offload``, ``attention``: one value each."""
    numbers: np.ndarray
    """One row per plan: ``tp, pp, dp, ep, micro_batch, interleave`` (``PLAN_NUMBERS``)."""
    plan_features: frozenset
    """What :meth:`Plan.features` gives for each of these plans."""
    system: Any = None
    """The system the plans run on (``None``: the one the pass is given)."""

    def plans(self) -> PlanArray:
        return PlanArray(*self.numbers.T, **self.choices)


_MISSING = object()  # a quantity left out for a cell (its formula raised ScenarioError)
_SPLIT = object()    # a value that differs in kind across the cell: split it first
_SCALARS = (int, float, bool, np.generic, str, type(None))


def _key(f) -> tuple:
    # compile_program may re-make a formula with a stricter domain: the function and its
    # parameters say whether two programs run the same formula
    return (f.function, f.params)


class PassProgram:
    """The formulas of many programs, one per combination, quantity by quantity in an
    order every program respects; each quantity with the combinations that pick each of its
    formulas."""

    def __init__(self, programs: Sequence):
        self.size = len(programs)
        alternatives: dict[str, dict] = {}
        for k, program in enumerate(programs):
            bit = 1 << k
            for f in program.steps:
                by_formula = alternatives.setdefault(f.produces, {})
                entry = by_formula.get(_key(f))
                if entry is None:
                    by_formula[_key(f)] = [f, bit]
                else:
                    entry[1] |= bit
        self.alternatives = {q: tuple((f, mask) for f, mask in by_formula.values())
                             for q, by_formula in alternatives.items()}
        self.order = self._order()
        self._labels: dict = {}

    def labels(self, key: Any, combinations: Sequence["Combination"]) -> tuple:
        """Each combination's value of ``key`` (a choice's name, ``("feature", name)`` for a
        feature's presence, ``("features", None)`` for all of them) as an integer code, and
        the values the codes stand for. The features the program was made for decide them,
        so they are kept with it."""
        out = self._labels.get(key)
        if out is None:
            if key == ("features", None):
                values = [c.plan_features for c in combinations]
            elif isinstance(key, tuple):
                values = [key[1] in c.plan_features for c in combinations]
            else:
                values = [c.choices[key] for c in combinations]
            distinct = list(dict.fromkeys(values))
            codes = {v: i for i, v in enumerate(distinct)}
            out = self._labels[key] = (np.array([codes[v] for v in values]), distinct)
        return out

    def _order(self) -> tuple:
        """The quantities, each after every quantity any of its formulas needs."""
        done: set = set()
        order: list = []

        def visit(q: str, stack: list) -> None:
            if q in done or q not in self.alternatives:
                return
            if q in stack:
                raise CycleError(stack[stack.index(q):] + [q])
            stack.append(q)
            for f, _ in self.alternatives[q]:
                for p in f.params:
                    visit(p, stack)
            stack.pop()
            done.add(q)
            order.append(q)

        for q in self.alternatives:
            visit(q, [])
        return tuple(order)


class _CellFeatures:
    """The plan features of a cell whose combinations differ in some: a membership test
    they agree on answers; any other use raises :class:`MixedChoice`."""

    __slots__ = ("_sets",)

    def __init__(self, sets: list):
        self._sets = sets

    def __contains__(self, name: str) -> bool:
        first = name in self._sets[0]
        for s in self._sets[1:]:
            if (name in s) != first:
                raise MixedChoice(("feature", name))
        return first

    def __getattr__(self, name: str) -> Any:
        raise MixedChoice(("features", None))

    def __iter__(self):
        raise MixedChoice(("features", None))

    def __len__(self) -> int:
        raise MixedChoice(("features", None))

    def __eq__(self, other) -> bool:
        raise MixedChoice(("features", None))

    __hash__ = None  # type: ignore[assignment]


def _mixed_choice(name: str):
    def read(self):
        value = self._choices.get(name, _MISSING)
        if value is _MISSING:
            value = self._choices[name] = self._pass.shared(name, self._mask)
        if value is _SPLIT:
            raise MixedChoice(name)
        return value
    read.__name__ = name
    return property(read, doc=f"The cell's {name}, when all its plans share it.")


def _degree(name: str):
    def read(self):
        value = self._degrees.get(name)
        if value is None:
            layout = self._layout
            column = layout.numbers[PLAN_NUMBERS.index(name)]
            rows = layout.positions(self._mask, self._pass.all)
            value = self._degrees[name] = column[rows]
        return value
    read.__name__ = name
    return property(read, doc=f"The cell's {name} degrees, one per plan.")


class CellPlans(PlanArray):
    """The plans of one cell of a pass: their degrees as arrays, as a
    :class:`~ridgeline.scenario.PlanArray` holds them; a choice, or ``features()``, as one
    value when the cell's combinations share it, else :class:`MixedChoice`. Each is made
    on first use: most formulas read a few. In the pass's *block* layout a cell's plans
    are its distinct blocks of degrees, each once."""

    __slots__ = ("_pass", "_mask", "_layout", "_degrees", "_choices")

    def __init__(self, owner: "_Pass", mask: int, layout: "_Layout"):
        object.__setattr__(self, "_pass", owner)
        object.__setattr__(self, "_mask", mask)
        object.__setattr__(self, "_layout", layout)
        object.__setattr__(self, "_degrees", {})
        object.__setattr__(self, "_choices", {})

    tp = _degree("tp")
    pp = _degree("pp")
    dp = _degree("dp")
    ep = _degree("ep")
    micro_batch = _degree("micro_batch")
    interleave = _degree("interleave")

    def features(self):
        features = self._choices.get("features")
        if features is None:
            features = self._pass.shared(("features", None), self._mask)
            if features is _SPLIT:
                codes, distinct = self._pass.labels(("features", None))
                features = _CellFeatures([distinct[c] for c in
                                          np.unique(codes[self._pass.bits(self._mask)])])
            self._choices["features"] = features
        return features

    def __len__(self) -> int:
        return self._layout.count(self._mask)

    sp = _mixed_choice("sp")
    zero = _mixed_choice("zero")
    recompute = _mixed_choice("recompute")
    offload = _mixed_choice("offload")
    attention = _mixed_choice("attention")

    def one(self, i: int):
        """The ``i``-th plan for a formula that takes one at a time: a :class:`Plan` when the
        cell's combinations share every choice, else one whose mixed choices raise
        :class:`MixedChoice` (what a formula reads splits the cell, as on the arrays)."""
        degrees = [int(getattr(self, name)[i]) for name in PLAN_NUMBERS]
        try:
            choices = {name: getattr(self, name) for name in PLAN_CHOICES}
        except MixedChoice:
            return _RowPlan(self, degrees)
        tp, pp, dp, ep, micro_batch, interleave = degrees
        return Plan(tp, pp, dp, ep, micro_batch=micro_batch, interleave=interleave, **choices)

    def plan(self, i: int) -> Plan:
        one = self.one(i)
        if not isinstance(one, Plan):
            raise MixedChoice(("features", None))
        return one

    def __getstate__(self):
        raise TypeError("CellPlans belongs to one pass and does not travel")

    def __repr__(self) -> str:
        return f"CellPlans({len(self)} plans)"


class _RowPlan:
    """One plan of a cell whose combinations differ in a choice: its degrees as numbers,
    its choices read from the cell (raising :class:`MixedChoice` where they differ)."""

    __slots__ = ("_cell",) + PLAN_NUMBERS

    def __init__(self, cell: CellPlans, degrees: list):
        self._cell = cell
        for name, value in zip(PLAN_NUMBERS, degrees):
            setattr(self, name, value)

    sp = property(lambda self: self._cell.sp)
    zero = property(lambda self: self._cell.zero)
    recompute = property(lambda self: self._cell.recompute)
    offload = property(lambda self: self._cell.offload)
    attention = property(lambda self: self._cell.attention)
    pp_layers = None
    model_parallel = property(lambda self: self.tp * self.pp)
    devices = property(lambda self: self.tp * self.pp * self.dp)

    def features(self) -> frozenset:
        return plan_features((self.tp, self.pp, self.dp, self.ep, self.interleave),
                             sp=self.sp, zero=self.zero, recompute=self.recompute,
                             offload=self.offload, attention=self.attention)


def _equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        same = a == b
    except Exception:  # noqa: BLE001 - values that do not compare are not shared
        return False
    return same is True


class _CellSystem:
    """The systems of a cell whose combinations run on several: an attribute they all share
    (``devices``, say) reads as on one system; any other raises :class:`MixedChoice`, and
    the formula runs once per system, as the accelerators of a search did one by one."""

    __slots__ = ("_systems",)

    def __init__(self, systems: list):
        self._systems = systems

    def __getattr__(self, name: str) -> Any:
        first = getattr(self._systems[0], name)
        for other in self._systems[1:]:
            if not _equal(first, getattr(other, name)):
                raise MixedChoice("system")
        return first


class _Layout:
    """Where the plans of a cell lie: the combinations' plans one block after another (the
    *plan* layout), or each distinct block of degrees once (the *block* layout: what does
    not depend on the choices is the same for every combination of a block)."""

    def __init__(self, owner: "_Pass", unit_of: np.ndarray, sizes: np.ndarray,
                 numbers: list):
        self.owner = owner
        self.unit_of = unit_of
        """For each combination, its unit (itself, or its block)."""
        self.sizes = sizes
        self.numbers = numbers
        """The degree columns over every unit's plans, in unit order."""
        self.identity = bool(np.array_equal(unit_of, np.arange(len(unit_of))))
        self._units: dict[int, np.ndarray] = {}
        self._counts: dict[int, int] = {}
        self._starts: dict[int, list] = {}
        self._positions: dict[tuple, Any] = {}

    def units(self, mask: int) -> np.ndarray:
        """Which units ``mask``'s combinations use, as booleans."""
        out = self._units.get(mask)
        if out is None:
            bits = self.owner.bits(mask)
            if self.identity:
                out = bits
            else:
                out = np.zeros(len(self.sizes), bool)
                out[self.unit_of[bits]] = True
            self._units[mask] = out
        return out

    def count(self, mask: int) -> int:
        out = self._counts.get(mask)
        if out is None:
            out = self._counts[mask] = int(self.sizes[self.units(mask)].sum())
        return out

    def positions(self, inner: int, outer: int):
        """Where ``inner``'s plans lie among ``outer``'s (which holds them): a slice for
        one unit, else an index array."""
        key = (inner, outer)
        out = self._positions.get(key)
        if out is None:
            starts = self._starts.get(outer)
            if starts is None:
                in_outer = np.where(self.units(outer), self.sizes, 0)
                starts = self._starts[outer] = (np.cumsum(in_outer) - in_outer).tolist()
            chosen = self.units(inner)
            ks = np.flatnonzero(chosen)
            if len(ks) == 1:
                k = int(ks[0])
                out = slice(starts[k], starts[k] + int(self.sizes[k]))
            else:
                lengths = self.sizes[chosen]
                first = np.repeat(np.asarray(starts)[chosen] - (np.cumsum(lengths) - lengths),
                                  lengths)
                out = first + np.arange(int(lengths.sum()))
            self._positions[key] = out
        return out

    def disjoint(self, cells: list) -> bool:
        """Whether no two of ``cells`` share a unit."""
        return sum(int(self.units(c).sum()) for c in cells) == \
            int(np.logical_or.reduce([self.units(c) for c in cells]).sum())


#: how a value lies over its cell's plans: per plan, per block, or shared by all of them
_PLANS, _BLOCKS, _SHARED = "plans", "blocks", "shared"


class _Pass:
    """The values of one pass: each quantity as pieces ``(mask, value, layout)`` over the
    cells it was computed on, and joined into one where its pieces allow.

    A formula runs on a cell's blocks (each distinct block of degrees once) unless one of
    its arguments is per plan: what depends on the degrees alone costs a block's plans, not
    every combination's."""

    def __init__(self, program: PassProgram, model, system, workload,
                 combinations: Sequence[Combination]):
        self.program = program
        self.combinations = combinations
        count = len(combinations)
        self.sizes = np.array([len(c.numbers) for c in combinations], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)])
        self.all = (1 << count) - 1
        self.width = (count + 7) // 8
        self.roots = {"model": model, "workload": workload}
        self.system = system
        self._labels: dict = {}
        # combinations whose degrees are one array on one system share a block
        systems = [c.system or system for c in combinations]
        system_ids = np.array([id(x) for x in systems], dtype=np.uint64)
        _, at, system_code = np.unique(system_ids, return_index=True, return_inverse=True)
        self._labels["system"] = (system_code.ravel(), [systems[i] for i in at])
        block_ids = np.stack([system_ids, np.array([id(c.numbers) for c in combinations],
                                                   dtype=np.uint64)], axis=1)
        _, at, unit_of = np.unique(block_ids, axis=0, return_index=True, return_inverse=True)
        unit_of = unit_of.ravel()
        blocks = range(len(at))
        first = dict(zip(blocks, at.tolist()))
        block_numbers = np.concatenate([combinations[first[b]].numbers for b in blocks])
        plan_numbers = np.concatenate([c.numbers for c in combinations])
        self.layouts = {
            _PLANS: _Layout(self, np.arange(count), self.sizes,
                            [np.ascontiguousarray(plan_numbers[:, i])
                             for i in range(plan_numbers.shape[1])]),
            _BLOCKS: _Layout(self, unit_of, np.array([len(combinations[first[b]].numbers)
                                                      for b in blocks]),
                             [np.ascontiguousarray(block_numbers[:, i])
                              for i in range(block_numbers.shape[1])]),
        }
        self.pieces: dict[str, list] = {}
        self.joined: dict[str, tuple] = {}
        self.missing: dict[str, int] = {}
        self.again: dict[tuple, list] = {}
        self.failed = 0
        self._bits: dict[int, np.ndarray] = {}
        self._members: dict[int, list] = {}
        self._plans: dict[tuple, CellPlans] = {}
        self._systems: dict[int, Any] = {}
        self._spread: dict[int, np.ndarray] = {}

    # ---- cells

    def bits(self, mask: int) -> np.ndarray:
        """Which combinations ``mask`` holds, as booleans."""
        out = self._bits.get(mask)
        if out is None:
            packed = np.frombuffer(mask.to_bytes(self.width, "little"), dtype=np.uint8)
            out = self._bits[mask] = np.unpackbits(packed, bitorder="little")[
                :len(self.sizes)].astype(bool)
        return out

    def members(self, mask: int) -> list:
        out = self._members.get(mask)
        if out is None:
            out = self._members[mask] = [mask.bit_length() - 1] if not mask & (mask - 1) \
                else np.flatnonzero(self.bits(mask)).tolist()
        return out

    def rows(self, mask: int):
        """The plans of ``mask`` as an index into the pass's rows."""
        return self.layouts[_PLANS].positions(mask, self.all)

    def spread(self, mask: int) -> np.ndarray:
        """For each plan of ``mask``, its row in ``mask``'s block layout."""
        out = self._spread.get(mask)
        if out is None:
            blocks = self.layouts[_BLOCKS]
            starts = blocks._starts.get(mask)
            if starts is None:
                blocks.positions(mask, mask)
                starts = blocks._starts[mask]
            units = blocks.unit_of[self.members(mask)]
            lengths = blocks.sizes[units]
            first = np.repeat(np.asarray(starts)[units] - (np.cumsum(lengths) - lengths),
                              lengths)
            out = self._spread[mask] = first + np.arange(int(lengths.sum()))
        return out

    def plans(self, mask: int, layout: str) -> CellPlans:
        key = (mask, layout)
        out = self._plans.get(key)
        if out is None:
            out = self._plans[key] = CellPlans(self, mask, self.layouts[layout])
        return out

    def systems(self, mask: int) -> Any:
        """The system of ``mask``'s plans, or a :class:`_CellSystem` of several."""
        out = self._systems.get(mask)
        if out is None:
            shared = self.shared("system", mask)
            if shared is _SPLIT:
                codes, distinct = self.labels("system")
                shared = _CellSystem([distinct[c] for c in np.unique(codes[self.bits(mask)])])
            out = self._systems[mask] = shared
        return out

    def labels(self, key: Any) -> tuple:
        """Each combination's value of ``key`` as an integer code, and the values the codes
        stand for: ``"system"``'s here, the others' with the pass's program."""
        if key == "system":  # told apart by identity: an accelerator holds mappings
            return self._labels[key]
        return self.program.labels(key, self.combinations)

    def shared(self, key: Any, mask: int) -> Any:
        """The value of ``key`` that every combination of ``mask`` has, or ``_SPLIT``."""
        codes, distinct = self.labels(key)
        if not mask & (mask - 1):
            return distinct[codes[mask.bit_length() - 1]]
        present = codes[self.bits(mask)]
        return distinct[present[0]] if (present == present[0]).all() else _SPLIT

    def split(self, mask: int, key: Any) -> list:
        """``mask``'s combinations grouped by ``key`` (see :meth:`labels`), or each alone."""
        if key is None:
            return [1 << k for k in self.members(mask)]
        codes, _ = self.labels(key)
        chosen = self.bits(mask)
        return [self.mask_of(chosen & (codes == code)) for code in np.unique(codes[chosen])]

    @staticmethod
    def mask_of(chosen: np.ndarray) -> int:
        return int.from_bytes(np.packbits(chosen, bitorder="little").tobytes(), "little")

    # ---- values

    def restrict(self, value: Any, layout: str, inner: int, outer: int) -> Any:
        """``value``, computed for ``outer`` in ``layout``, for the plans of ``inner``;
        ``_SPLIT`` for a value that is neither shared nor an array over the plans."""
        if inner == outer or layout is _SHARED or value is _MISSING:
            return value
        if isinstance(value, np.ndarray) and value.ndim:
            where = self.layouts[layout]
            if value.shape[0] == where.count(outer):
                return value[where.positions(inner, outer)]
        return _SPLIT

    def to_plans(self, value: Any, layout: str, mask: int) -> Any:
        """``value`` over ``mask``'s plans (``_SPLIT``: a table of blocks, made again)."""
        if layout is not _BLOCKS:
            return value
        if isinstance(value, np.ndarray) and value.ndim and \
                value.shape[0] == self.layouts[_BLOCKS].count(mask):
            return value[self.spread(mask)]
        return _SPLIT

    def argument(self, q: str, mask: int, joined: bool, per_plan: bool) -> tuple:
        """``q`` for the plans of ``mask`` and its layout; ``(_SPLIT, None)`` when ``mask``
        spans pieces that cannot be taken together."""
        root = self.roots.get(q)
        if root is not None:
            return root, _SHARED
        if q == "plan":
            return self.plans(mask, _PLANS if per_plan else _BLOCKS), _SHARED
        if q == "system":
            return self.systems(mask), _SHARED
        if joined:
            cell, value, layout = self.joined.get(q, (0, None, None))
            if cell and not mask & ~cell:
                value = self.restrict(value, layout, mask, cell)
                if value is not _SPLIT:
                    return self.plans_if(q, value, layout, mask, per_plan)
        if not mask & ~self.missing.get(q, 0):
            return _MISSING, _SHARED
        for cell, value, layout in self.pieces.get(q, ()):
            if not mask & ~cell:
                value = self.restrict(value, layout, mask, cell)
                if value is _SPLIT:  # a table of a larger cell: this cell's own
                    pieces = self.compute_again(q, mask, per_plan)
                    if len(pieces) != 1:
                        return _SPLIT, None
                    _, value, layout = pieces[0]
                return self.plans_if(q, value, layout, mask, per_plan)
        return _SPLIT, None

    def plans_if(self, q: str, value: Any, layout: str, mask: int, per_plan: bool) -> tuple:
        """``value`` as it is, or over the plans when the call is per plan."""
        if not per_plan or layout is not _BLOCKS:
            return value, layout
        spread = self.to_plans(value, layout, mask)
        if spread is not _SPLIT:
            return spread, _PLANS
        pieces = self.compute_again(q, mask, True)
        return (pieces[0][1], pieces[0][2]) if len(pieces) == 1 else (_SPLIT, None)

    def cells(self, q: str, mask: int, per_plan: bool) -> list:
        """The pieces of ``q`` that ``mask`` spans, as masks within ``mask``."""
        pieces = self.again.get((q, mask, per_plan))
        if pieces is not None:
            return [cell & mask for cell, _, _ in pieces if cell & mask]
        joined, missing = self.joined[q][0] & mask, self.missing[q] & mask
        rest = mask & ~joined & ~missing
        return [c for c in (joined, missing) if c] + [
            cell & rest for cell, _, _ in self.pieces[q] if cell & rest]

    def compute_again(self, q: str, mask: int, per_plan: bool) -> list:
        key = (q, mask, per_plan)
        if key not in self.again:
            self.again[key] = [piece for f, cell in self.program.alternatives[q]
                               if cell & mask for piece in self.call(f, cell & mask,
                                                                     per_plan=per_plan)]
        return self.again[key]

    def call(self, f, mask: int, joined: bool = True, per_plan: bool = False) -> list:
        """``f`` on the plans of ``mask``, as pieces ``(mask, value, layout)``: on its
        blocks unless an argument is per plan (or ``per_plan``)."""
        args, layouts = [], []
        for p in f.params:
            value, layout = self.argument(p, mask, joined, per_plan)
            if value is _MISSING:
                return [(mask, _MISSING, _SHARED)]
            if value is _SPLIT:
                cells = self.cells(p, mask, per_plan)
                if cells == [mask]:  # nothing to split by: evaluate the combinations apart
                    self.failed |= mask
                    return [(mask, _MISSING, _SHARED)]
                return self.call_each(f, cells, joined, per_plan)
            args.append(value)
            layouts.append(layout)
        if not per_plan and _PLANS in layouts:
            return self.call(f, mask, joined, per_plan=True)
        try:
            value = f.function(*args)
        except MixedChoice as exc:
            return self.call_each(f, self.split(mask, exc.key), joined, per_plan)
        except ScenarioError:
            if mask & (mask - 1):
                return self.call_each(f, self.split(mask, None), joined, per_plan)
            return [(mask, _MISSING, _SHARED)]
        except Exception:  # noqa: BLE001 - run again on smaller cells, then alone
            if not mask & (mask - 1):
                if not per_plan:
                    return self.call(f, mask, joined, per_plan=True)
                self.failed |= mask
                return [(mask, _MISSING, _SHARED)]
            if joined:
                # the values as they were computed, not joined: numbers stay numbers
                return self.call(f, mask, False, per_plan)
            cells = self.refine(f, mask)
            return self.call_each(f, cells if len(cells) > 1 else self.split(mask, None),
                                  joined, per_plan)
        if isinstance(value, _SCALARS) or (isinstance(value, np.ndarray) and not value.ndim):
            return [(mask, value, _SHARED)]
        return [(mask, value, _PLANS if per_plan else _BLOCKS)]

    def refine(self, f, mask: int) -> list:
        """``mask`` cut by the pieces of every parameter of ``f``."""
        cells = [mask]
        for p in f.params:
            if p in self.pieces:
                cells = [a & b for a in cells for b in self.cells(p, mask, False) if a & b]
        return cells

    def call_each(self, f, cells: list, joined: bool, per_plan: bool) -> list:
        return [piece for cell in cells for piece in self.call(f, cell, joined, per_plan)]

    def run(self) -> None:
        for q in self.program.order:
            pieces = [piece for f, cell in self.program.alternatives[q]
                      for piece in self.call(f, cell)]
            self.pieces[q] = pieces
            self.joined[q] = self.join(pieces)
            missing = 0
            for cell, value, _ in pieces:
                if value is _MISSING:
                    missing |= cell
            self.missing[q] = missing

    def join(self, pieces: list) -> tuple:
        """One value over the cells of ``pieces`` (those not left out): the piece itself,
        or an array over their blocks (when no two share a block) or their plans;
        ``(0, None, None)`` when they cannot be joined."""
        present = [piece for piece in pieces if piece[1] is not _MISSING]
        if len(present) == 1:
            return present[0]
        if not present:
            return (0, None, None)
        mask = 0
        for cell, value, layout in present:
            if not isinstance(value, (int, float, bool, np.generic, np.ndarray)):
                return (0, None, None)
            if layout is not _SHARED and (value.ndim != 1 or value.shape[0] !=
                                          self.layouts[layout].count(cell)):
                return (0, None, None)
            mask |= cell
        layout = _BLOCKS if all(lay is not _PLANS for _, _, lay in present) and \
            self.layouts[_BLOCKS].disjoint([cell for cell, _, _ in present]) else _PLANS
        dtype = np.result_type(*(v.dtype if isinstance(v, np.ndarray) else type(v)
                                 for _, v, _ in present))
        if dtype.kind not in "biuf":
            return (0, None, None)
        where = self.layouts[layout]
        out = np.empty(where.count(mask), dtype=dtype)
        for cell, value, lay in present:
            if layout is _PLANS and lay is _BLOCKS:
                value = value[self.spread(cell)]
            out[where.positions(cell, mask)] = value
        return (mask, out, layout)

    def column(self, q: str) -> np.ndarray:
        """``q`` for every plan of the pass as floats; NaN where it was left out."""
        out = np.full(int(self.starts[-1]), np.nan)
        mask, value, layout = self.joined.get(q, (0, None, None))
        pieces = [(mask, value, layout)] if mask and isinstance(
            value, (np.ndarray, int, float, bool, np.generic)) else self.pieces.get(q, ())
        for cell, value, layout in pieces:
            if value is _MISSING:
                continue
            value = self.to_plans(value, layout, cell)
            try:
                numbers = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                continue
            out[self.rows(cell)] = numbers
        return out


@functools.lru_cache(maxsize=8192)
def _with(plan_features: frozenset, extra: frozenset) -> frozenset:
    """A combination's features with the model's and the workload's, one object per
    distinct set (see :func:`ridgeline.scenario.plan_features`)."""
    return plan_features | extra if extra else plan_features


def pass_program(catalog, features: Sequence[tuple], quantities: tuple) -> PassProgram:
    """The pass over combinations of these ``features`` (scenario features), made once per
    catalog and kept with its programs: a second search of the same combinations (another
    model of the family, other accelerators of the same kind) finds it. For four GPUs' 864
    combinations, making it takes 19 ms and finding it 0.03 ms, against 20 ms for the whole
    warm search."""
    from .engine import _NO_INPUTS, compile_program
    key = ("plan pass", tuple(features), quantities)
    program = catalog._cache.get(key)
    if program is None:
        program = PassProgram([compile_program(catalog, f, quantities, _NO_INPUTS, True)
                               for f in features])
        catalog._cache[key] = program
    return program


def evaluate_combinations(catalog, model, system, workload,
                          combinations: Sequence[Combination],
                          quantities: tuple) -> tuple[dict, int]:
    """``quantities`` for every plan of ``combinations`` (in their order, block by block),
    each on its own system or else on ``system``,
    each a float array, NaN where a quantity cannot be computed for a plan; and the bit
    mask of combinations whose formulas raised even alone (their values are NaN here: the
    caller evaluates them apart).

    Raises:
        CycleError: two combinations order their formulas in opposite ways.
    """
    extra = model.features() | workload.features()
    features = [(model.family, (c.system or system).accelerator.kind, workload.kind,
                 _with(c.plan_features, extra)) for c in combinations]
    program = pass_program(catalog, features, quantities)
    state = _Pass(program, model, system, workload, combinations)
    state.run()
    return {q: state.column(q) for q in quantities}, state.failed
