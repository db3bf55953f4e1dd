"""Speculative decoding (Leviathan, Kalman & Matias 2023, arXiv:2211.17192): a small draft model
proposes ``gamma`` tokens one at a time, the target checks all of them in one pass of
``gamma + 1`` tokens per sequence, and keeps the accepted prefix plus one token of its own.

Every formula here needs the workload feature ``speculative`` (an
:class:`InferenceWorkload` with a ``draft``): without a draft nothing changes.

- With each drafted token accepted independently with probability ``alpha``, a target step
  yields on average ``E = (1 - alpha^(gamma+1)) / (1 - alpha)`` tokens (``gamma + 1`` at
  ``alpha = 1``; Leviathan et al., equation 1).
- A target step costs ``gamma`` draft decode steps and one target verification pass of
  ``gamma + 1`` tokens per sequence (``decode_new_tokens = gamma + 1``, so ``decode_step_s``
  *is* that pass, priced by the same roofline as any decode step); ``tpot_s`` is that cost
  divided by ``E``. At ``alpha = 0`` one token comes out per step and the draft's work is
  pure overhead: speculation is then never faster than plain decoding.
- ``speculative_speedup`` compares with the same scenario decoded one token at a time.

**The draft's costs** come from an estimate of the draft model on the same accelerators: with
the target's tensor-parallel degree when that divides the draft's heads and MLP width, else on
one device; no pipeline stages, nothing offloaded; the same batch, prompt and output lengths.
Those nested estimates (and the one of the target decoding without a draft) use the default
catalog (built-in and installed plugins), since a formula does not see the catalog of the
estimate that runs it; quantities given with ``inputs=`` / ``--set`` reach only the outer
estimate. The draft's weights and KV cache are added to the memory of the devices it shares;
its prefill activations and the target's are never live at once, so the larger counts.
"""

from __future__ import annotations

import numpy as np

from ridgeline.plugin import (InferenceWorkload, Plan, Scenario, System, bytes_per_element,
                              estimate, formula, hookimpl, plain)

SPECULATIVE = "speculative"

#: Below this distance from 1 the acceptance rate uses the first-order expansion of E around
#: alpha = 1, where the closed form would divide two vanishing numbers.
_NEAR_ONE = 1e-6


def expected_tokens_per_step(gamma, alpha):
    """Tokens one target step yields on average: ``sum(alpha^i, i = 0..gamma)``, i.e.
    ``(1 - alpha^(gamma+1)) / (1 - alpha)``, and ``gamma + 1`` at ``alpha = 1``.

    Works on numbers and numpy arrays; ``alpha`` is clipped to [0, 1].
    """
    alpha = np.clip(alpha, 0.0, 1.0)
    gap = 1.0 - alpha
    near_one = gap < _NEAR_ONE
    closed = (1.0 - alpha ** (gamma + 1.0)) / np.where(near_one, 1.0, gap)
    # d/d(alpha) of sum(alpha^i) at alpha = 1 is sum(i) = gamma (gamma + 1) / 2
    series = (gamma + 1.0) - gap * gamma * (gamma + 1.0) / 2.0
    value = np.where(near_one, series, closed)
    return plain(value)


def draft_plan(draft, plan) -> Plan:
    """Where the draft runs: the target's tensor-parallel degree when it divides the draft's
    heads and MLP width (the draft then sits beside the target's shards), else one device."""
    tp = plan.tp
    if draft.num_heads % tp or draft.intermediate_size % tp:
        tp = 1
    return Plan(tp=tp, attention=plan.attention)


def _scalar(x) -> bool:
    return np.ndim(x) == 0


#: the last draft estimate, keyed by the objects (held, so ids stay theirs) and scalar inputs:
#: one estimate serves the several draft quantities of one outer estimate.
_LAST_DRAFT: list = [None]

#: what the outer estimate needs of the draft.
DRAFT_QUANTITIES = ("decode_step_s", "prefill_s", "decode_step_bytes", "weight_bytes_per_device",
                    "kv_cache_bytes_per_token_per_device", "prefill_activation_bytes_per_sequence",
                    "kv_held_tokens")


def _draft(system, plan, workload, batch, prompt_tokens, output_tokens):
    """The estimate of the draft model serving the same requests on the same accelerators."""
    scalar = _scalar(batch) and _scalar(prompt_tokens) and _scalar(output_tokens)
    key = (workload.draft, system, plan, float(batch), float(prompt_tokens),
           float(output_tokens)) if scalar else None
    last = _LAST_DRAFT[0]
    if key is not None and last is not None and all(
            a is b if i < 3 else a == b for i, (a, b) in enumerate(zip(key, last[0]))):
        return last[1]
    draft = workload.draft
    dplan = draft_plan(draft, plan)
    dsystem = System(accelerator=system.accelerator, devices=dplan.tp,
                     efficiency=system.efficiency, price_usd_per_hour=system.price_usd_per_hour)
    dworkload = InferenceWorkload(batch=workload.batch, prompt_tokens=workload.prompt_tokens,
                                  output_tokens=workload.output_tokens)
    result = estimate(Scenario(draft, dsystem, dplan, dworkload), DRAFT_QUANTITIES,
                      inputs={"batch": batch, "prompt_tokens": prompt_tokens,
                              "output_tokens": output_tokens})
    if key is not None:
        _LAST_DRAFT[0] = (key, result)
    return result


# --------------------------------------------------------------------------- the workload


@formula(workload="inference", features=SPECULATIVE, unit="", domain="count")
def draft_tokens(workload):
    """Tokens the draft proposes per target step (gamma)."""
    return float(workload.draft_tokens)


@formula(workload="inference", features=SPECULATIVE, unit="", domain="fraction")
def acceptance_rate(workload):
    """Probability that the target accepts each drafted token (alpha)."""
    return workload.acceptance_rate


@formula("decode_new_tokens", workload="inference", features=SPECULATIVE, unit="", domain="count")
def decode_new_tokens_verify(draft_tokens):
    """The target verifies the gamma drafted tokens and adds one of its own: gamma + 1 tokens
    per sequence in each target step."""
    return draft_tokens + 1.0


@formula(workload="inference", features=SPECULATIVE, unit="", domain="nonnegative")
def expected_tokens_per_target_step(draft_tokens, acceptance_rate):
    """Tokens a target step yields on average, (1 - alpha^(gamma+1)) / (1 - alpha)
    (Leviathan et al. 2023, equation 1); gamma + 1 when every draft is accepted."""
    return expected_tokens_per_step(draft_tokens, acceptance_rate)


# --------------------------------------------------------------------------- the draft's costs


@formula(workload="inference", features=SPECULATIVE)
def draft_decode_step_s(system, plan, workload, batch, prompt_tokens, output_tokens):
    """One decode step of the draft model for the whole batch (its own estimate, same devices)."""
    return _draft(system, plan, workload, batch, prompt_tokens, output_tokens)["decode_step_s"]


@formula(workload="inference", features=SPECULATIVE)
def draft_prefill_s(system, plan, workload, batch, prompt_tokens, output_tokens):
    """The draft's prefill of the prompts (it needs its own KV cache before drafting)."""
    return _draft(system, plan, workload, batch, prompt_tokens, output_tokens)["prefill_s"]


@formula(workload="inference", features=SPECULATIVE)
def draft_decode_step_bytes(system, plan, workload, batch, prompt_tokens, output_tokens):
    """Bytes one draft decode step moves through memory, all its devices together."""
    return _draft(system, plan, workload, batch, prompt_tokens,
                  output_tokens)["decode_step_bytes"]


@formula(workload="inference", features=SPECULATIVE)
def draft_weight_bytes_per_device(system, plan, workload, batch, prompt_tokens, output_tokens):
    """The draft's weights on a device that holds them."""
    return _draft(system, plan, workload, batch, prompt_tokens,
                  output_tokens)["weight_bytes_per_device"]


@formula(workload="inference", features=SPECULATIVE)
def draft_kv_cache_bytes_per_token_per_device(system, plan, workload, batch, prompt_tokens,
                                              output_tokens):
    """The draft's KV cache per token of context on a device that holds it."""
    return _draft(system, plan, workload, batch, prompt_tokens,
                  output_tokens)["kv_cache_bytes_per_token_per_device"]


@formula(workload="inference", features=SPECULATIVE)
def draft_prefill_activation_bytes_per_sequence(system, plan, workload, batch, prompt_tokens,
                                                output_tokens):
    """Peak activations of the draft's prefill, per sequence."""
    return _draft(system, plan, workload, batch, prompt_tokens,
                  output_tokens)["prefill_activation_bytes_per_sequence"]


@formula(workload="inference", features=SPECULATIVE, unit="", domain="nonnegative")
def draft_kv_held_tokens(system, plan, workload, batch, prompt_tokens, output_tokens):
    """Positions of KV cache the draft keeps per sequence at full context, averaged over its
    layers (less than the context where the draft attends through a window)."""
    return _draft(system, plan, workload, batch, prompt_tokens, output_tokens)["kv_held_tokens"]


@formula(workload="inference", features=SPECULATIVE)
def draft_kv_cache_bytes_per_device(draft_kv_cache_bytes_per_token_per_device, batch,
                                    draft_kv_held_tokens):
    """The draft's KV cache at full context for the batch, per device that holds it."""
    return draft_kv_cache_bytes_per_token_per_device * batch * draft_kv_held_tokens


@formula(workload="inference", features=SPECULATIVE)
def no_speculation_tpot_s(model, system, plan, workload, batch, prompt_tokens, output_tokens):
    """Time per output token of the same scenario decoding one token at a time (no draft)."""
    plain = InferenceWorkload(batch=workload.batch, prompt_tokens=workload.prompt_tokens,
                              output_tokens=workload.output_tokens)
    return estimate(Scenario(model, system, plan, plain), ["tpot_s"], check=False,
                    inputs={"batch": batch, "prompt_tokens": prompt_tokens,
                            "output_tokens": output_tokens})["tpot_s"]


# --------------------------------------------------------------------------- time


@formula(workload="inference", features=SPECULATIVE)
def target_step_s(draft_tokens, draft_decode_step_s, decode_step_s):
    """One round of speculation: gamma draft decode steps, then the target's verification pass
    of gamma + 1 tokens per sequence (``decode_step_s``)."""
    return draft_tokens * draft_decode_step_s + decode_step_s


@formula("tpot_s", workload="inference", features=SPECULATIVE)
def tpot_s_speculative(target_step_s, expected_tokens_per_target_step):
    """Time per output token: one round of speculation / the tokens it yields on average."""
    return target_step_s / expected_tokens_per_target_step


@formula("ttft_s", workload="inference", features=SPECULATIVE)
def ttft_s_speculative(prefill_s, draft_prefill_s, first_decode_step_s):
    """Time to first token: the target's and the draft's prefill, then the first step."""
    return prefill_s + draft_prefill_s + first_decode_step_s


@formula(workload="inference", features=SPECULATIVE, unit="", domain="nonnegative")
def speculative_speedup(no_speculation_tpot_s, tpot_s):
    """How many times faster tokens come than decoding one at a time (below 1: slower)."""
    return no_speculation_tpot_s / tpot_s


# --------------------------------------------------------------------------- utilisation


@formula("mfu", workload="inference", features=SPECULATIVE, unit="", domain="fraction")
def mfu_speculative(prefill_flops, decode_step_flops, decode_new_tokens, output_tokens,
                    e2e_latency_s, peak_flops_per_s, replica_devices):
    """Model FLOPs utilisation: the target's FLOPs for the tokens produced (a verification pass
    of gamma + 1 tokens costs gamma + 1 single-token steps; rejected drafts and the draft's
    work are not model FLOPs) over time x peak of every device."""
    done = prefill_flops + decode_step_flops / decode_new_tokens * output_tokens
    return done / (e2e_latency_s * peak_flops_per_s * replica_devices)


@formula("decode_mfu", workload="inference", features=SPECULATIVE, unit="",
         domain="fraction")
def decode_mfu_speculative(decode_step_flops, decode_new_tokens, tpot_s, peak_flops_per_s,
                           replica_devices):
    """Model FLOPs utilisation while decoding: one token's target FLOPs per tpot_s."""
    return decode_step_flops / decode_new_tokens / (tpot_s * peak_flops_per_s * replica_devices)


@formula("mbu", workload="inference", features=SPECULATIVE, unit="", domain="fraction")
def mbu_speculative(decode_step_bytes, draft_tokens, draft_decode_step_bytes,
                    expected_tokens_per_target_step, tpot_s, peak_memory_bandwidth_bytes_per_s,
                    replica_devices):
    """Memory-bandwidth utilisation while decoding: the bytes of one round (verification and
    gamma draft steps) per token it yields, per tpot_s, over every device's peak bandwidth."""
    per_token = (decode_step_bytes + draft_tokens * draft_decode_step_bytes) / \
        expected_tokens_per_target_step
    return per_token / (tpot_s * peak_memory_bandwidth_bytes_per_s * replica_devices)


# --------------------------------------------------------------------------- memory


def _draft_memory(draft_weight_bytes_per_device, draft_kv_cache_bytes_per_device):
    return draft_weight_bytes_per_device + draft_kv_cache_bytes_per_device


@formula("memory_per_device_bytes", workload="inference", features=SPECULATIVE)
def memory_per_device_bytes_speculative(weight_bytes_per_device, kv_cache_bytes_per_device,
                                        activation_bytes, draft_weight_bytes_per_device,
                                        draft_kv_cache_bytes_per_device,
                                        draft_prefill_activation_bytes_per_sequence, batch):
    """The target's weights, KV cache and activations, plus the draft's weights and KV cache;
    the two prefills run one after the other, so the larger activation set counts."""
    draft_activations = draft_prefill_activation_bytes_per_sequence * batch
    return weight_bytes_per_device + kv_cache_bytes_per_device + \
        np.maximum(activation_bytes, draft_activations) + \
        _draft_memory(draft_weight_bytes_per_device, draft_kv_cache_bytes_per_device)


def _per_sequence(kv_cache_bytes_per_token_per_device, draft_kv_cache_bytes_per_token_per_device,
                  kv_held_tokens, draft_kv_held_tokens, prefill_activation_bytes_per_sequence,
                  draft_prefill_activation_bytes_per_sequence):
    """Memory one more sequence takes: both KV caches (each holding its own window of the
    context) and the larger prefill working set."""
    return kv_cache_bytes_per_token_per_device * kv_held_tokens + \
        draft_kv_cache_bytes_per_token_per_device * draft_kv_held_tokens + \
        np.maximum(prefill_activation_bytes_per_sequence,
                   draft_prefill_activation_bytes_per_sequence)


@formula("max_batch", workload="inference", features=SPECULATIVE, unit="", domain="whole")
def max_batch_speculative(usable_memory_bytes, weight_bytes_per_device,
                          draft_weight_bytes_per_device, kv_cache_bytes_per_token_per_device,
                          draft_kv_cache_bytes_per_token_per_device, kv_held_tokens,
                          draft_kv_held_tokens, prefill_activation_bytes_per_sequence,
                          draft_prefill_activation_bytes_per_sequence):
    """Largest batch whose weights (target and draft), KV caches and activations fit."""
    per_sequence = _per_sequence(kv_cache_bytes_per_token_per_device,
                                 draft_kv_cache_bytes_per_token_per_device, kv_held_tokens,
                                 draft_kv_held_tokens, prefill_activation_bytes_per_sequence,
                                 draft_prefill_activation_bytes_per_sequence)
    room = usable_memory_bytes - weight_bytes_per_device - draft_weight_bytes_per_device
    return np.maximum(np.floor(room / per_sequence), 0.0)


# With the target's weights streamed (plugins/parallel/offload.py) the draft's memory comes out
# of the room left for resident layers, and the largest batch keeps only the streaming minimum.


def offload_room_bytes_per_device_speculative(usable_memory_bytes, kv_cache_bytes_per_device,
                                              activation_bytes,
                                              non_layer_weight_bytes_per_device,
                                              draft_weight_bytes_per_device,
                                              draft_kv_cache_bytes_per_device,
                                              draft_prefill_activation_bytes_per_sequence, batch):
    """Memory left for the target's layer weights once the KV caches, the activations, the
    target's embeddings and LM head and the draft's weights are placed (0 when they overfill
    it)."""
    draft_activations = draft_prefill_activation_bytes_per_sequence * batch
    return np.maximum(usable_memory_bytes - kv_cache_bytes_per_device
                      - np.maximum(activation_bytes, draft_activations)
                      - non_layer_weight_bytes_per_device
                      - _draft_memory(draft_weight_bytes_per_device,
                                      draft_kv_cache_bytes_per_device), 0.0)


def max_batch_speculative_streamed(usable_memory_bytes, non_layer_weight_bytes_per_device,
                                   weight_bytes_per_layer_per_device, offload_layers,
                                   draft_weight_bytes_per_device,
                                   kv_cache_bytes_per_token_per_device,
                                   draft_kv_cache_bytes_per_token_per_device, kv_held_tokens,
                                   draft_kv_held_tokens, prefill_activation_bytes_per_sequence,
                                   draft_prefill_activation_bytes_per_sequence):
    """Largest batch with the target streamed (embeddings, LM head and two layer buffers stay)
    and the draft resident."""
    least_weights = non_layer_weight_bytes_per_device + \
        np.minimum(2.0, offload_layers) * weight_bytes_per_layer_per_device + \
        draft_weight_bytes_per_device
    per_sequence = _per_sequence(kv_cache_bytes_per_token_per_device,
                                 draft_kv_cache_bytes_per_token_per_device, kv_held_tokens,
                                 draft_kv_held_tokens, prefill_activation_bytes_per_sequence,
                                 draft_prefill_activation_bytes_per_sequence)
    return np.maximum(np.floor((usable_memory_bytes - least_weights) / per_sequence), 0.0)


_STREAMED = tuple(
    f for tier in ("offload-host", "offload-nvme") for f in (
        formula("offload_room_bytes_per_device", workload="inference", plan=tier,
                features=SPECULATIVE)(offload_room_bytes_per_device_speculative),
        formula("max_batch", workload="inference", plan=tier, features=SPECULATIVE,
                unit="", domain="whole")(max_batch_speculative_streamed)))


FORMULAS = (draft_tokens, acceptance_rate, decode_new_tokens_verify,
            expected_tokens_per_target_step, draft_decode_step_s,
            draft_prefill_s, draft_decode_step_bytes, draft_weight_bytes_per_device,
            draft_kv_cache_bytes_per_token_per_device,
            draft_prefill_activation_bytes_per_sequence, draft_kv_held_tokens,
            draft_kv_cache_bytes_per_device,
            no_speculation_tpot_s, target_step_s, tpot_s_speculative, ttft_s_speculative,
            speculative_speedup, mfu_speculative, decode_mfu_speculative, mbu_speculative,
            memory_per_device_bytes_speculative, max_batch_speculative) + _STREAMED


@hookimpl
def ridgeline_register_formulas(register):
    for f in FORMULAS:
        register(f)
