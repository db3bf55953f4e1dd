"""Operations: the unit of the roofline.

An architecture describes a phase (prefill, one decode step, a training forward pass) as a
tuple of :class:`Operation` per device: its FLOPs and the bytes it moves, split by what they
are (weights, activations, KV cache), and how many times it repeats (layers on the device).
The hardware side prices each operation on its own roofline and sums them: attention and the
MLP sit on different sides of the ridge point, so one roofline over the whole step would be
wrong.

Fields may be floats or numpy arrays (sweeps).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np

Number = Any  # float or numpy array


class Operation(NamedTuple):
    """One operation of a phase, on one device.

    An immutable named tuple rather than an attrs class: every estimate builds a few dozen of
    these, and a tuple is the cheapest immutable record Python constructs (about half the cost
    of a frozen attrs instance), while fields, keywords, equality and hashing stay the same.
    """

    name: str
    """``qkv_proj``, ``attention``, ``out_proj``, ``mlp``, ``norms``, ``embedding``, ``lm_head``."""

    flops: Number
    """FLOPs per occurrence (a multiply-add is 2 FLOPs)."""

    weight_bytes: Number = 0.0
    """Weight bytes read per occurrence."""

    activation_bytes: Number = 0.0
    """Activation bytes read and written per occurrence."""

    kv_bytes: Number = 0.0
    """KV-cache bytes read and written per occurrence."""

    count: Number = 1
    """How many times it runs in the phase on this device (layers held)."""

    @property
    def bytes(self) -> Number:
        return self.weight_bytes + self.activation_bytes + self.kv_bytes

    @property
    def intensity(self) -> Number:
        """Arithmetic intensity, FLOP per byte moved."""
        return self.flops / np.maximum(self.bytes, 1e-30)


def roofline_s(op: Operation, flops_per_s: Number, bytes_per_s: Number) -> Number:
    """Time of all occurrences of ``op``: each bound by arithmetic or by memory traffic."""
    compute_s = op.flops / flops_per_s
    memory_s = (op.weight_bytes + op.activation_bytes + op.kv_bytes) / bytes_per_s
    if type(compute_s) is float and type(memory_s) is float:
        # plain floats (every single estimate): numpy's maximum costs five times a comparison
        # and returns np.float64, which slows every formula downstream. A NaN on either side
        # still gives NaN, as np.maximum does, so the engine's finiteness check sees it.
        return op.count * (memory_s if memory_s > compute_s or memory_s != memory_s
                           else compute_s)
    return op.count * np.maximum(compute_s, memory_s)


#: tokens a matrix-multiply block covers: a block of dequantised weights serves this many.
DEQUANT_TILE_TOKENS = 128.0


def operations_time_s(ops, flops_per_s: Number, bytes_per_s: Number, overhead_s: Number,
                      kv_bytes_per_s: Number = None, dequant_s_per_byte: Number = 0.0,
                      weight_bytes_per_element: float = 2.0) -> Number:
    """Sum of each operation's own roofline time, plus a fixed overhead per occurrence.

    Args:
        ops: a phase's table (or any iterable of operations).
        flops_per_s, bytes_per_s: achievable arithmetic and memory rates of one device.
        overhead_s: fixed time each occurrence adds (launch, ramp-up, tail).
        kv_bytes_per_s: the rate KV-cache bytes are read at, when it differs from
            ``bytes_per_s`` (a paged cache gathers blocks).
        dequant_s_per_byte: vector time to dequantise a byte of weights stored narrower than
            the arithmetic runs. A pass over the weights adds to their memory time (the
            conversion waits on the load); an operation over many tokens repeats it once per
            ``DEQUANT_TILE_TOKENS`` tokens (its tokens are its FLOPs over 2 per stored weight of
            ``weight_bytes_per_element`` bytes), on the vector units, beside the matrix units.
    """
    dequantises = type(dequant_s_per_byte) is not float or dequant_s_per_byte != 0.0
    dequantises = dequantises and bool(np.any(dequant_s_per_byte))
    if kv_bytes_per_s is None and not dequantises:
        # The loop spells roofline_s out so that a single estimate (plain floats, dozens of
        # operations) pays no call per operation. It adds term by term from 0, as sum() did
        # over roofline_s's np.float64 terms, so the result is the same to the bit.
        time_s = 0
        try:
            for _, flops, weight_bytes, activation_bytes, kv_bytes, count in rows(ops):
                compute_s = flops / flops_per_s
                memory_s = (weight_bytes + activation_bytes + kv_bytes) / bytes_per_s
                # as np.maximum: the larger, or NaN when either is NaN
                bound_s = memory_s if memory_s > compute_s or memory_s != memory_s \
                    else compute_s
                time_s = time_s + (count * bound_s + count * overhead_s)
            return time_s
        except ValueError:
            # arrays of more than one value (sweeps) have no truth value: numpy's maximum
            return sum([roofline_s(op, flops_per_s, bytes_per_s) + op.count * overhead_s
                        for op in ops])
    kv_rate = bytes_per_s if kv_bytes_per_s is None else kv_bytes_per_s
    time_s = 0.0
    for _, flops, weight_bytes, activation_bytes, kv_bytes, count in rows(ops):
        memory_s = (weight_bytes + activation_bytes) / bytes_per_s + kv_bytes / kv_rate
        bound_s = maximum(flops / flops_per_s, memory_s)
        if dequantises and np.any(weight_bytes):
            held = np.where(weight_bytes > 0, weight_bytes, 1.0)
            tiles = np.maximum(np.ceil(flops * weight_bytes_per_element / (2.0 * held)
                                       / DEQUANT_TILE_TOKENS), 1.0)
            pass_s = weight_bytes * dequant_s_per_byte
            bound_s = maximum(maximum(bound_s, memory_s + pass_s), pass_s * tiles)
        time_s = time_s + count * (bound_s + overhead_s)
    return plain(time_s)


def plain(value: Number) -> Number:
    """A plain float for a 0-d value, the array otherwise.

    numpy functions return ``np.float64`` even for single numbers, and every formula downstream
    computes more slowly with those; a formula that uses ``np.maximum``, ``np.ceil``, ... for
    the sake of sweeps can hand back a plain float for single estimates this way."""
    return float(value) if np.ndim(value) == 0 else value


_NUMBERS = (float, int)


def maximum(a: Number, b: Number) -> Number:
    """``np.maximum`` that gives a plain float when both are plain numbers (NaN wins, as with
    numpy): a formula's max of two single numbers then costs a comparison, not a numpy call
    that hands ``np.float64`` to every formula downstream."""
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return float(a if a > b or a != a else b)
    return np.maximum(a, b)


def minimum(a: Number, b: Number) -> Number:
    """``np.minimum`` that gives a plain float when both are plain numbers (NaN wins)."""
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return float(a if a < b or a != a else b)
    return np.minimum(a, b)


def floor(value: Number) -> Number:
    """``np.floor`` that gives a plain float for a plain finite number."""
    if type(value) is float and -_EXACT < value < _EXACT:
        return float(math.floor(value))
    return plain(np.floor(value))


def ceil(value: Number) -> Number:
    """``np.ceil`` that gives a plain float for a plain finite number."""
    if type(value) is float and -_EXACT < value < _EXACT:
        return float(math.ceil(value))
    return plain(np.ceil(value))


#: floats at and beyond this size are whole numbers already (2^52); NaN fails both bounds.
_EXACT = 2.0**52


def where(condition: Number, if_true: Number, if_false: Number) -> Number:
    """``np.where`` that gives a plain float when everything is a single number."""
    if np.ndim(condition) == 0 and np.ndim(if_true) == 0 and np.ndim(if_false) == 0:
        return float(if_true if condition else if_false)
    return np.where(condition, if_true, if_false)


def total(ops: tuple[Operation, ...], field: str) -> Number:
    """Sum of ``field`` (``flops``, ``bytes`` or one of the byte fields) over every occurrence
    of every operation."""
    # loops that unpack rows by position: a fraction of the cost of reading fields by name;
    # they add from 0 in order, as sum() does
    result = 0
    if field == "bytes":
        for _, _, w, a, kv, count in rows(ops):
            result = result + (w + a + kv) * count
        return result
    try:
        i = _FIELD_INDEX[field]
    except KeyError:
        raise ValueError(f"total: no operation field {field!r} (fields: flops, bytes, "
                         f"{', '.join(list(_FIELD_INDEX)[1:])})") from None
    for row in rows(ops):
        result = result + row[i] * row[5]
    return result


_FIELD_INDEX = {"flops": 1, "weight_bytes": 2, "activation_bytes": 3, "kv_bytes": 4}

#: an Operation from a tuple of its six fields, without the Python-level ``__new__`` of a
#: named tuple (a few times cheaper)
_operation = functools.partial(tuple.__new__, Operation)
_tuple_iter = tuple.__iter__
_tuple_getitem = tuple.__getitem__
_concat = tuple.__add__
_repeat = tuple.__mul__


class Table(tuple):
    """A phase's operations: a tuple that reads as :class:`Operation` rows.

    It keeps each row as it was given, a plain tuple of the six fields, and makes the named
    :class:`Operation` when a row is read (``table[i]``, ``for op in table``): a plain tuple
    costs a fraction of a named one to build, every estimate builds dozens of rows, and most
    of them are only ever summed (by position: see :func:`rows`). Equality and hashing are
    those of the tuple of :class:`Operation` it reads as; ``+`` of tables is a table.
    """

    __slots__ = ()

    def __iter__(self):
        return map(_operation, _tuple_iter(self))

    def __getitem__(self, index):
        item = _tuple_getitem(self, index)
        return Table(item) if type(index) is slice else _operation(item)

    def __add__(self, other):
        if isinstance(other, tuple):
            return Table(_concat(self, other))
        return NotImplemented

    def __radd__(self, other):
        if isinstance(other, tuple):
            return Table(_concat(other, self))
        return NotImplemented

    def __mul__(self, times):
        repeated = _repeat(self, times)
        return repeated if repeated is NotImplemented else Table(repeated)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return repr(tuple(self))

    def __reduce__(self):
        return (Table, (tuple(_tuple_iter(self)),))


def rows(ops) -> Any:
    """An iterator over the rows of a table as plain tuples ``(name, flops, weight_bytes,
    activation_bytes, kv_bytes, count)``, for loops that unpack them by position: no named
    :class:`Operation` is made. Any tuple or iterable of operations works."""
    return _tuple_iter(ops) if isinstance(ops, tuple) else iter(ops)


def concat(*tables) -> Table:
    """One table of the rows of ``tables``, in order: what ``a + b + c`` gives, in one step
    (each ``+`` of tables makes a table of its own, and phases are concatenated on every
    estimate)."""
    if len(tables) == 3:  # a phase's attention, MLP and the rest: the common case
        first, second, third = tables
        return Table(_concat(_concat(first, second), third))
    return Table(functools.reduce(_concat, tables, ()))


_SIX = frozenset((6,))


def table(*rows: tuple) -> Table:
    """A phase's table from positional rows ``(name, flops, weight_bytes, activation_bytes,
    kv_bytes, count)``: it reads as ``Operation(*row)`` for each row, and costs a fraction of
    building those (tables are rebuilt on every estimate).

    Raises:
        ValueError: a row without exactly the six fields.
    """
    if not _SIX.issuperset(map(len, rows)):
        for row in rows:
            if len(row) != 6:
                raise ValueError(f"table: a row needs the six fields (name, flops, "
                                 f"weight_bytes, activation_bytes, kv_bytes, count), got "
                                 f"{row!r}")
    return Table(rows)
