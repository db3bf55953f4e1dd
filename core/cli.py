"""The ``ridgeline`` command line.

Errors are one clear line on stderr and a non-zero exit (``--debug`` shows the traceback).
Only ``argparse`` is imported before a command runs, so ``ridgeline --help`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, usage exit code
        sys.stderr.write(f"ridgeline: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def _add_json(p):
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _global_arguments(p)


def _global_arguments(p):
    """``--registry`` and ``--debug`` after the command as well as before it. Their own
    destination and no default: the command's parser must not overwrite what was given
    before the command (``main`` joins the two ``--registry`` lists)."""
    p.add_argument("--registry", action="append", dest="registry_after",
                   default=argparse.SUPPRESS, metavar="DIR",
                   help="extra registry folder, as before the command (repeatable)")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")


def _placement_arguments(p, devices_default: str):
    """What to run and where: the model, the accelerator, devices and the tp x pp split."""
    p.add_argument("model", help="preset name (llama-3-70b) or path to a local config.json")
    p.add_argument("--on", required=True, metavar="ACCEL", help="accelerator id or alias (h100)")
    p.add_argument("--devices", type=int, help=f"devices (default: {devices_default})")
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel degree")
    p.add_argument("--pp", type=int, default=1, help="pipeline-parallel degree")
    p.add_argument("--pp-layers", metavar="N,N,...",
                   help="layers of each pipeline stage, first to last (default: even, or "
                        "Megatron-LM's split when --pp does not divide the layers)")


def _serving_model_arguments(p, what: str):
    """Expert parallelism, request lengths and precisions: what infer and serve share."""
    p.add_argument("--ep", type=int, default=1,
                   help="expert-parallel degree (MoE): routed experts split over this many "
                        "devices of each tensor-parallel group (divides tp)")
    p.add_argument("--prompt", default="512", help=f"prompt tokens per {what}")
    p.add_argument("--output", default="256", help=f"generated tokens per {what}")
    p.add_argument("--weights", metavar="DTYPE", help="weight precision (bf16, fp8, int4, ...)")
    p.add_argument("--kv", metavar="DTYPE", help="KV-cache precision")
    p.add_argument("--activations", metavar="DTYPE", help="activation and arithmetic precision")


def _infer_arguments(p):
    _placement_arguments(p, "tp x pp; on lpu and wafer-scale, the fewest that hold the model")
    p.add_argument("--batch", default="1", help="sequences served together, or 'max'")
    _serving_model_arguments(p, "sequence")
    p.add_argument("--offload", default="none", choices=("none", "host", "nvme"),
                   help="keep the weights in host memory or on NVMe and stream the layers "
                        "that do not fit over the host link on every pass")
    p.add_argument("--draft", metavar="MODEL",
                   help="draft model for speculative decoding (same vocabulary as the target)")
    p.add_argument("--gamma", type=int, metavar="G",
                   help="tokens the draft proposes per target step (default 4; needs --draft)")
    p.add_argument("--accept", type=float, metavar="A",
                   help="probability the target accepts a drafted token, 0-1 (default 0.7; "
                        "needs --draft)")
    _common_scenario_arguments(p)


def _train_arguments(p):
    _placement_arguments(p, "tp x pp x dp")
    p.add_argument("--dp", type=int, help="data-parallel degree (default: devices / (tp x pp))")
    p.add_argument("--ep", type=int, default=1,
                   help="expert-parallel degree (MoE): routed experts split over this many "
                        "of a stage's tp x dp devices")
    p.add_argument("--micro-batch", type=int, default=1, help="sequences per micro-batch")
    p.add_argument("--global-batch", default="512", help="sequences per optimizer step")
    p.add_argument("--seq", default="2048", help="sequence length")
    p.add_argument("--tokens", default="1B", help="training tokens (300B, 1.4T, 1e9)")
    p.add_argument("--precision", metavar="DTYPE", help="training precision (default: bf16)")
    p.add_argument("--sp", action="store_true", help="sequence parallelism")
    p.add_argument("--interleave", type=int, default=1, help="model chunks per pipeline stage")
    p.add_argument("--zero", type=int, default=0, choices=(0, 1, 2, 3), help="ZeRO stage")
    p.add_argument("--recompute", default="none", choices=("none", "selective", "full"),
                   help="activation recomputation")
    p.add_argument("--attention", default="flash", choices=("flash", "unfused"),
                   help="attention kernels: flash (default) or unfused (score matrix in memory)")
    p.add_argument("--offload", default="none", choices=("none", "host", "nvme"),
                   help="keep optimizer state and gradients (and with --zero 3 the weights) in "
                        "host memory or on NVMe; the Adam step runs on the host")
    _common_scenario_arguments(p)


def _distill_arguments(p):
    p.add_argument("model", metavar="STUDENT",
                   help="student preset (a 'distilled' one names its teacher and tokens) or "
                        "path to a local config.json")
    p.add_argument("--teacher", help="teacher preset (default: the student's own)")
    p.add_argument("--tokens", help="distillation tokens, e.g. 94B (default: the student's own)")
    p.add_argument("--on", required=True, metavar="ACCEL",
                   help="accelerator the teacher pass and the student's training run on")
    p.add_argument("--devices", type=int, help="devices (default: tp x pp x dp)")
    p.add_argument("--tp", type=int, default=1, help="student training: tensor-parallel degree")
    p.add_argument("--pp", type=int, default=1, help="student training: pipeline degree")
    p.add_argument("--dp", type=int, help="student training: data-parallel degree "
                                          "(default: devices / (tp x pp))")
    p.add_argument("--micro-batch", type=int, default=1, help="sequences per micro-batch")
    p.add_argument("--global-batch", default="512", help="sequences per optimizer step")
    p.add_argument("--seq", default="2048", help="sequence length")
    p.add_argument("--precision", metavar="DTYPE", help="training precision (default: bf16)")
    p.add_argument("--zero", type=int, default=0, choices=(0, 1, 2, 3),
                   help="student training: ZeRO stage")
    p.add_argument("--recompute", default="none", choices=("none", "selective", "full"),
                   help="student training: activation recomputation")
    p.add_argument("--teacher-tp", type=int,
                   help="teacher pass: tensor-parallel degree (default: the cheapest split "
                        "that fits)")
    p.add_argument("--teacher-pp", type=int, help="teacher pass: pipeline degree")
    p.add_argument("--serve-on", metavar="ACCEL", help="accelerator to serve on (default: --on)")
    p.add_argument("--batch", default="1", help="serving: sequences served together, or 'max'")
    p.add_argument("--prompt", default="512", help="serving: prompt tokens per sequence")
    p.add_argument("--output", default="256", help="serving: generated tokens per sequence")
    p.add_argument("--weights", metavar="DTYPE", help="serving: weight precision")
    p.add_argument("--kv", metavar="DTYPE", help="serving: KV-cache precision")
    p.add_argument("--serve-tp", type=int,
                   help="serving: student's tensor-parallel degree (default: the cheapest "
                        "split that fits)")
    p.add_argument("--teacher-serve-tp", type=int,
                   help="serving: teacher's tensor-parallel degree (default: the cheapest "
                        "split that fits)")
    p.add_argument("--serve-price", metavar="USD_PER_H",
                   help="price per device-hour of --serve-on (default: --price on the same "
                        "accelerator, else the registry's)")
    _common_scenario_arguments(p)


def _serve_arguments(p):
    _placement_arguments(p, "tp x pp, or with --rate/--users/--tokens-per-day the replicas "
                            "that demand needs")
    _serving_model_arguments(p, "request (mean)")
    load = p.add_argument_group("load (one of; none means saturation: maximum throughput)")
    load.add_argument("--concurrency", metavar="N", help="a closed loop of N requests in flight")
    load.add_argument("--rate", metavar="R", help="Poisson arrivals, R requests per second")
    load.add_argument("--users", metavar="N", help="N users, each waiting --think-time "
                                                   "between requests")
    load.add_argument("--think-time", metavar="T", help="a user's pause between a response "
                                                        "and the next request (30s)")
    load.add_argument("--tokens-per-day", metavar="T", help="a demand in output tokens per "
                                                            "day (a Poisson rate), e.g. 2B")
    sched = p.add_argument_group("scheduler")
    sched.add_argument("--max-batch", default="2048", metavar="N",
                       help="sequences in flight per replica, at most (default 2048)")
    sched.add_argument("--max-tokens", default="8192", metavar="N",
                       help="tokens per iteration, prefill chunks and decodes (default 8192)")
    sched.add_argument("--block-tokens", default="32", metavar="N",
                       help="tokens per KV-cache block (default 32)")
    sched.add_argument("--admission", default="reserve", choices=("reserve", "on-demand"),
                       help="reserve a request's whole KV cache on admission (TensorRT-LLM) "
                            "or grow it on demand (vLLM, SGLang)")
    sched.add_argument("--no-chunked-prefill", dest="chunked_prefill", action="store_false",
                       help="a prompt goes whole into one iteration (TensorRT-LLM's default); "
                            "by default prompts are split over iterations (vLLM, SGLang)")
    slo = p.add_argument_group("latency targets")
    slo.add_argument("--ttft", metavar="T", help="time-to-first-token target (300ms)")
    slo.add_argument("--tpot", metavar="T", help="time-per-output-token target (10ms)")
    slo.add_argument("--percentile", metavar="P", help="percentile of the targets (default 50)")
    p.add_argument("--disagg", metavar="SPEC",
                   help="prefill and decode on separate pools, e.g. "
                        "'prefill=2x(tp=1),decode=1x(tp=4)' (instead of --devices/--tp/--pp)")
    p.add_argument("--simulate", action="store_true",
                   help="also replay requests one iteration at a time for percentiles")
    p.add_argument("--requests", default="10000", metavar="N",
                   help="requests the simulation replays (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    p.add_argument("--prompt-cv", default="0", metavar="CV",
                   help="simulation: spread of prompt lengths, as a coefficient of variation "
                        "(0: every prompt has --prompt tokens)")
    p.add_argument("--output-cv", default="0", metavar="CV",
                   help="simulation: spread of output lengths, as a coefficient of variation")
    _common_scenario_arguments(p)


def _finetune_arguments(p):
    _placement_arguments(p, "tp x pp x dp")
    p.add_argument("--dp", type=int, help="data-parallel degree (default: devices / (tp x pp))")
    p.add_argument("--method", default="lora", choices=("full", "lora", "qlora"),
                   help="full (every weight trained), lora (frozen 16-bit base + adapters) or "
                        "qlora (frozen NF4 base + adapters, paged optimizer)")
    p.add_argument("--rank", default="16", help="adapter rank (lora, qlora)")
    p.add_argument("--targets", default="attention,mlp",
                   help="matrices carrying adapters: attention, mlp, all, or q,k,v,o,gate,up,down")
    p.add_argument("--tokens", help="tokens processed in all (50M, 1e9)")
    p.add_argument("--epochs", help="passes over the data set (needs --dataset-tokens)")
    p.add_argument("--dataset-tokens", help="tokens in the data set (with --epochs)")
    p.add_argument("--micro-batch", type=int, default=1, help="sequences per micro-batch")
    p.add_argument("--global-batch", default="64", help="sequences per optimizer step")
    p.add_argument("--seq", default="2048", help="sequence length")
    p.add_argument("--precision", metavar="DTYPE",
                   help="training precision (default: bf16; qlora: of the arithmetic)")
    p.add_argument("--zero", type=int, default=0, choices=(0, 1, 2, 3), help="ZeRO stage")
    p.add_argument("--recompute", default="none", choices=("none", "selective", "full"),
                   help="activation recomputation (gradient checkpointing)")
    p.add_argument("--offload", default="none", choices=("none", "host", "nvme"),
                   help="full fine-tuning: optimizer state and gradients in host memory or on "
                        "NVMe")
    _common_scenario_arguments(p)


def _common_scenario_arguments(p):
    p.add_argument("--context-limit", metavar="TOKENS",
                   help="tokens of context to run the model with, beyond its own limit "
                        "(max_position_embeddings, times any rope_scaling factor)")
    p.add_argument("--price", metavar="USD_PER_H", help="price per device-hour (2.49 or '2.49 USD/h')")
    p.add_argument("--efficiency", metavar="K=V,...",
                   help="override efficiency factors, e.g. compute=0.6,memory=0.8")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="give a quantity instead of computing it, e.g. "
                        "--set capacity_factor=1.25 (repeatable)")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ridgeline", description=(
        "What it costs (memory, time, energy, money) to train or serve a language model on "
        "given hardware with a given parallel plan, and why."))
    parser.add_argument("--registry", action="append", default=[], metavar="DIR",
                        help="extra registry folder (DIR/accelerators/*.toml, "
                             "DIR/models/*.toml); repeatable; also RIDGELINE_REGISTRY")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("accelerators", help="list accelerators")
    _add_json(p)
    p = sub.add_parser("models", help="list model presets")
    p.add_argument("--readers", action="store_true",
                   help="list instead the config.json model types read, by family and plugin")
    _add_json(p)
    p = sub.add_parser("formulas", help="list formulas: quantity, where it applies, plugin")
    _add_json(p)
    p = sub.add_parser("plugins", help="list plugins: distribution, version, what each registered")
    _add_json(p)
    p = sub.add_parser("show", help="show one accelerator, model or quantity")
    p.add_argument("name")
    _add_json(p)
    p = sub.add_parser("infer", help="estimate serving a batch of requests")
    _infer_arguments(p)
    _add_json(p)
    p = sub.add_parser("serve", help="estimate a deployment serving traffic with in-flight "
                                     "batching: throughput, latency, replicas, cost")
    _serve_arguments(p)
    _add_json(p)
    p = sub.add_parser("train", help="estimate a training run")
    _train_arguments(p)
    _add_json(p)
    p = sub.add_parser("distill", help="cost of distilling a student from a teacher, serving "
                                       "cost of each, and the break-even volume")
    _distill_arguments(p)
    _add_json(p)
    p = sub.add_parser("finetune", help="estimate fine-tuning: full, LoRA or QLoRA")
    _finetune_arguments(p)
    _add_json(p)
    p = sub.add_parser("rl", help="RL post-training (GRPO, PPO): time in generation, scoring "
                                  "and update per step, cost per step and per run")
    _rl_arguments(p)
    _add_json(p)
    p = sub.add_parser("prompt-cost", help="what extra prompt tokens cost to serve, and after "
                                           "how many requests a fine-tune that removes them "
                                           "pays for itself")
    _prompt_cost_arguments(p)
    _add_json(p)
    p = sub.add_parser("explain", help="why a quantity has its value: the provenance tree")
    esub = p.add_subparsers(dest="what", metavar="infer|train|serve|finetune", parser_class=_Parser)
    for name, adder in (("infer", _infer_arguments), ("train", _train_arguments),
                        ("serve", _serve_arguments), ("finetune", _finetune_arguments)):
        q = esub.add_parser(name, help=f"explain a quantity of '{name}'")
        adder(q)
        q.add_argument("--quantity", required=True, help="quantity name (tpot_s, step_s, ...)")
        _add_json(q)
    p = sub.add_parser("validate", help="compare estimates with published measurements")
    p.add_argument("file", nargs="?", help="validation TOML, or a shipped set by name: public "
                   "(the default) or vendor")
    _add_json(p)
    _plan_parsers(sub)
    _picture_arguments(sub)
    return parser



def _rl_arguments(p):
    p.add_argument("--explain", metavar="FIGURE",
                   help="say how one figure is computed (step_s, generation_s, ...)")
    p.add_argument("model", help="the policy: preset name or path to a local config.json")
    p.add_argument("--on", required=True, metavar="ACCEL", help="accelerator id or alias (h100)")
    p.add_argument("--devices", required=True, help="devices of the whole job")
    p.add_argument("--prompts", required=True, help="prompts per step")
    p.add_argument("--group", required=True, help="completions per prompt (GRPO's G)")
    p.add_argument("--prompt", required=True, help="tokens per prompt")
    p.add_argument("--completion", required=True, help="tokens per completion")
    p.add_argument("--steps", default="1", help="steps in the run")
    p.add_argument("--algo", default="grpo", help="grpo (default) or ppo")
    pools = p.add_mutually_exclusive_group()
    pools.add_argument("--colocate", action="store_true",
                       help="the same devices generate and train (the default)")
    pools.add_argument("--rollout-devices", metavar="M",
                       help="a separate rollout pool of M devices; the rest train")
    p.add_argument("--rollout-tp", help="tensor-parallel degree of a rollout replica "
                                        "(default: the fewest devices that hold the model)")
    p.add_argument("--tp", default="1", help="training: tensor-parallel degree")
    p.add_argument("--pp", default="1", help="training: pipeline degree")
    p.add_argument("--zero", type=int, default=3, choices=(0, 1, 2, 3),
                   help="training: ZeRO stage (default 3, FSDP)")
    p.add_argument("--recompute", default="full", choices=("none", "selective", "full"),
                   help="training: activation recomputation (default full)")
    p.add_argument("--micro-batch", default="1", help="training: sequences per micro-batch")
    p.add_argument("--ppo-epochs", default="1", help="passes over each step's sequences")
    p.add_argument("--reward", metavar="MODEL", help="reward model scored with a forward pass "
                                                     "(default: a rule-based reward)")
    p.add_argument("--critic", metavar="MODEL", help="PPO's value model (default: the policy's "
                                                     "architecture)")
    p.add_argument("--no-prefix-cache", action="store_true",
                   help="every sequence prefills and holds its group's whole prompt")
    p.add_argument("--price", help="USD per device-hour, overriding the registry's")
    p.add_argument("--context-limit", metavar="TOKENS",
                   help="tokens of context the model is run with, instead of its own limit")


def _prompt_cost_arguments(p):
    p.add_argument("--explain", metavar="FIGURE",
                   help="say how one figure is computed (extra_cost_per_request_usd, ...)")
    p.add_argument("model", help="preset name or path to a local config.json")
    p.add_argument("--on", required=True, metavar="ACCEL", help="accelerator to serve on")
    p.add_argument("--tp", default="1", help="serving: tensor-parallel degree of a replica")
    p.add_argument("--devices", help="serving devices (default: one replica, or what --rate "
                                     "needs)")
    p.add_argument("--prompt", required=True, help="prompt tokens per request without the "
                                                   "extra instructions")
    p.add_argument("--output", required=True, help="generated tokens per request")
    p.add_argument("--extra-prompt", required=True, help="extra prompt tokens per request")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--rate", help="requests per second (default: a busy deployment)")
    load.add_argument("--concurrency", help="requests in flight")
    p.add_argument("--weights", metavar="DTYPE", help="serving: weight precision")
    p.add_argument("--kv", metavar="DTYPE", help="serving: KV-cache precision")
    p.add_argument("--price", help="USD per device-hour, overriding the registry's")
    p.add_argument("--tune-tokens", help="tokens of the fine-tune (or distillation) that "
                                         "removes the extra prompt, e.g. 50M")
    p.add_argument("--method", default="full", help="fine-tune: full, lora or qlora")
    p.add_argument("--tune-on", metavar="ACCEL", help="accelerator to fine-tune on "
                                                      "(default: --on)")
    p.add_argument("--tune-devices", default="8", help="devices to fine-tune on (default 8)")
    p.add_argument("--tune-seq", default="2048", help="fine-tune sequence length")
    p.add_argument("--distill-into", metavar="STUDENT",
                   help="also price distilling the model into this student, served without "
                        "the extra prompt")


def _picture_arguments(sub) -> None:
    """``--plot FILE`` on infer, serve and train, and the ``compare`` and ``web`` commands."""
    for name in ("infer", "serve", "train"):
        sub.choices[name].add_argument(
            "--plot", metavar="FILE", help="also draw the estimate into FILE (.png or .svg; "
                                           "needs pip install 'ridgeline[plot]')")
    p = sub.add_parser("compare", help="one model on several accelerators: a table (and a "
                                       "chart with --plot)")
    p.add_argument("model", help="preset name or path to a local config.json")
    p.add_argument("--on", required=True, metavar="ACC1,ACC2,...",
                   help="accelerators to compare, comma-separated")
    p.add_argument("--devices", type=int, help="devices (default: tp x pp)")
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel degree")
    p.add_argument("--pp", type=int, default=1, help="pipeline-parallel degree")
    p.add_argument("--batch", default="1", help="infer: sequences served together, or 'max'")
    _serving_model_arguments(p, "sequence")
    p.add_argument("--serve", action="store_true",
                   help="compare deployments serving traffic (ridgeline serve) instead of a "
                        "static batch (ridgeline infer)")
    load = p.add_argument_group("with --serve: load and targets, as for ridgeline serve")
    for flag, what in (("--concurrency", "requests in flight"), ("--rate", "requests/s"),
                       ("--users", "users"), ("--think-time", "a user's pause"),
                       ("--ttft", "time-to-first-token target"),
                       ("--tpot", "time-per-output-token target")):
        load.add_argument(flag, metavar="V", help=what)
    _common_scenario_arguments(p)
    p.add_argument("--plot", metavar="FILE", help="draw the comparison into FILE (.png, .svg)")
    _add_json(p)
    p = sub.add_parser("web", help="a web page with forms and charts (needs pip install "
                                   "'ridgeline[web]')")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    _global_arguments(p)


def _plan_parsers(sub):
    """``ridgeline plan train|serve``: searches over plans (see docs/plans.md)."""
    p = sub.add_parser("plan", help="search plans: the best way to train (or serve) a model")
    psub = p.add_subparsers(dest="plan_what", metavar="train|serve", parser_class=_Parser)
    q = psub.add_parser("serve", help="the best deployments under latency targets, per "
                                      "accelerator")
    _plan_serve_arguments(q)
    _plot_argument(q, "each accelerator's Pareto frontier")
    q = psub.add_parser("train", help="the fastest (cheapest, ...) training plans that fit")
    q.add_argument("model", help="preset name (llama-3-70b) or path to a local config.json")
    q.add_argument("--on", required=True, metavar="ACCEL[,ACCEL...]",
                   help="accelerator ids or aliases, comma-separated (h100,mi300x)")
    q.add_argument("--devices", required=True, help="devices of each accelerator")
    q.add_argument("--seq", default="2048", help="sequence length")
    q.add_argument("--global-batch", default="512", help="sequences per step")
    q.add_argument("--tokens", default="1B", help="training tokens (300B, 1.4T, 1e9)")
    q.add_argument("--precision", metavar="DTYPE", help="training precision (default: bf16)")
    q.add_argument("--attention", default="flash", help="attention kernels: flash or unfused")
    q.add_argument("--by", default="step", help="rank by step, wall, cost or energy")
    q.add_argument("--top", default="10", help="plans to show")
    q.add_argument("--csv", metavar="FILE", help="write every fitting plan to FILE")
    _plot_argument(q, "each accelerator's Pareto frontier")
    _add_json(q)


def _plan_serve_arguments(p) -> None:
    """``ridgeline plan serve``'s arguments (here, not beside the search: importing the search
    loads numpy, which ``ridgeline --help`` must not wait for)."""
    p.add_argument("model")
    p.add_argument("--on", default="all", metavar="ACC[,ACC...]",
                   help="accelerators to compare, or 'all' (the default)")
    p.add_argument("--devices", required=True, help="devices available")
    p.add_argument("--prompt", default="512", help="mean prompt tokens")
    p.add_argument("--output", default="256", help="mean output tokens")
    p.add_argument("--ttft", help="time-to-first-token target (0.5, '500ms')")
    p.add_argument("--tpot", help="time-per-output-token target ('50ms')")
    p.add_argument("--percentile", help="the targets' percentile (default 50)")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--rate", help="demand: Poisson arrivals, requests per second")
    load.add_argument("--users", help="demand: users, each sending as a response ends")
    p.add_argument("--by", default="throughput", choices=PLAN_SERVE_BY,
                   help="rank by throughput per device or by cost per million tokens")
    p.add_argument("--top", default="5", help="plans listed in --json (default 5)")
    p.add_argument("--tp", help="tensor-parallel degrees to try (comma-separated)")
    p.add_argument("--price", metavar="USD_PER_H", help="price per device-hour")
    p.add_argument("--no-disagg", action="store_true",
                   help="search aggregated deployments only")
    p.add_argument("--csv", metavar="FILE", help="write every fitting configuration to FILE")
    p.add_argument("--json", action="store_true", help="machine-readable output")


#: what ``plan serve`` ranks by (``ridgeline.planning.serve.BY``).
PLAN_SERVE_BY = ("throughput", "cost")


def _plot_argument(p, what: str) -> None:
    p.add_argument("--plot", metavar="FILE", help=f"also draw {what} into FILE (.png or .svg; "
                                                  f"needs pip install 'ridgeline[plot]')")


def _options(parser: argparse.ArgumentParser) -> tuple[set, set]:
    """Every option string of the parser and its commands' parsers, and those that take a
    value."""
    every, valued = set(), set()
    parsers = [parser]
    while parsers:
        p = parsers.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            every.update(action.option_strings)
            if action.nargs is None:
                valued.update(action.option_strings)
    return every, valued


def _negative_values_attached(parser: argparse.ArgumentParser, argv: list) -> list:
    """``--tokens -5T`` as ``--tokens=-5T``.

    argparse takes a value that starts with '-' and is not a plain negative number for an
    option and answers "expected one argument". Attached with '=', the value reaches the
    command, whose check of it says what is wrong and what is expected. A following token
    that is itself an option is left alone (the value is then missing, which argparse says).
    """
    every, valued = _options(parser)
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        if token in valued and i + 1 < len(argv):
            value = argv[i + 1]
            if value.startswith("-") and value != "--" and \
                    value.partition("=")[0] not in every:
                out.append(f"{token}={value}")
                i += 2
                continue
        out.append(token)
        i += 1
    return out


def main(argv=None) -> int:
    parser = make_parser()
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    args = parser.parse_args(_negative_values_attached(parser, argv))
    args.registry = [*args.registry, *getattr(args, "registry_after", ())]
    if not args.command:
        parser.print_help()
        return 0
    if args.command == "explain" and not args.what:
        parser.error("explain needs 'infer', 'train', 'serve' or 'finetune' and their arguments")
    if args.command == "plan" and not args.plan_what:
        parser.error("plan needs 'train' or 'serve' and their arguments")
    try:
        from . import commands
        return commands.run(args) or 0
    except KeyboardInterrupt:
        sys.stderr.write("ridgeline: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # every error: one line, unless --debug
        if args.debug or os.environ.get("RIDGELINE_DEBUG"):
            raise
        from .errors import RidgelineError
        if isinstance(exc, RidgelineError):
            text = str(exc)
        else:
            text = f"internal error: {type(exc).__name__}: {exc} (run with --debug and report it)"
        sys.stderr.write(f"ridgeline: {text}\n")
        return EXIT_ERROR


def _print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
