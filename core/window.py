"""Windowed attention: how many positions a layer attends to and keeps in its KV cache.

A *sliding* window (Mistral 7B v0.1, Gemma 2/3, gpt-oss) lets the token at position ``i``
(1-based) attend to the last ``min(i, W)`` positions, itself included; a *chunked* window
(Llama 4) cuts the sequence into chunks of ``W`` tokens and the token attends to the
``((i - 1) mod W) + 1`` positions of its own chunk up to itself. A windowed layer never needs
the key and value of a position it can no longer see, so its KV cache holds at most ``W``
positions per sequence (chunked: the current chunk, bounded by ``W``). Layers beyond
``Model.windowed_layers`` attend to the whole context.

FlashAttention-2 takes a ``window_size`` and skips every key block wholly outside the window
(Dao 2023, arXiv:2307.08691; the ``window_size`` argument of flash-attn 2.3), so the work of
a fused kernel scales with the positions attended, as counted here. The partly masked blocks
on the window's edge are a tile's worth per query block and are not counted.

Every function takes numbers or numpy arrays for its token counts.
"""

from __future__ import annotations

from .operations import floor, minimum


def attended_sum(model, n):
    """Sum over positions ``1..n`` of the positions each attends to in one windowed layer
    of ``model`` (``n`` may be fractional: the closed forms interpolate)."""
    w = float(model.sliding_window)
    if model.window_kind == "chunked":
        chunks = floor(n / w)
        rest = n - chunks * w
        return chunks * w * (w + 1.0) / 2.0 + rest * (rest + 1.0) / 2.0
    m = minimum(n, w)
    return m * (m + 1.0) / 2.0 + (n - m) * w


def mean_attended(model, first, last):
    """Mean over the positions ``first..last`` (1-based) of the positions each attends to,
    averaged over the model's layers (windowed and global): the context a layer's attention
    sees on average. Without a window it is ``(first + last) / 2``, the same number."""
    full = (first + last) / 2.0
    if model.sliding_window is None:
        return full
    count = last - first + 1.0
    windowed = (attended_sum(model, last) - attended_sum(model, first - 1.0)) / count
    share = model.windowed_layers / model.num_layers
    return full + share * (windowed - full)


def held_positions(model, tokens):
    """Positions of KV cache one sequence of ``tokens`` tokens keeps, averaged over the
    model's layers: a windowed layer keeps at most the window (a chunked one at most its
    chunk), a global one every token. Without a window it is ``tokens``."""
    if model.sliding_window is None:
        return tokens
    share = model.windowed_layers / model.num_layers
    return tokens + share * (minimum(tokens, float(model.sliding_window)) - tokens)
