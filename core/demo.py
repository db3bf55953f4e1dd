"""``make demo``: the accelerator table, the plugins, a real estimate and an essay recomputed."""

from __future__ import annotations

import sys

from .units import format_value


def _section(title: str) -> None:
    print(f"\n=== {title} ===\n")


def main() -> int:
    from . import cli, seeds
    from .api import infer
    from .report import infer_report

    _section("Accelerators in the registry (ridgeline accelerators)")
    cli.main(["accelerators"])
    _section("Plugins (ridgeline plugins)")
    cli.main(["plugins"])
    _section("Llama-3-70B on 8 x H100, batch 64 (ridgeline infer llama-3-70b --on h100 --tp 8 "
             "--batch 64 --prompt 1024 --output 256)")
    print(infer_report(infer("llama-3-70b", on="h100", tp=8, batch=64, prompt=1024,
                             output=256)))
    _section("Essay 003 recomputed: 1.6 T fp8 parameters on 20 H100s, 20-way tensor parallel")
    for batch in (1, 100):
        e = seeds.essay_003(batch)
        print(f"batch {batch:>3}: decode step {format_value(e['tpot_s'], 's')}, of which "
              f"arithmetic {format_value(e['decode_step_flops'] / (20 * 3e15), 's')}; "
              f"utilisation {e['decode_mfu']:.2%}")
    _section("Essay 000: batching is a free win until compute-bound (Llama-3-70B, 8 x H100)")
    batches, e = seeds.essay_000_intensity()
    ridge = float(e["ridge_point_flops_per_byte"][0])  # a constant, broadcast to the grid
    print(f"{'batch':>6} {'FLOP/byte':>10} {'step':>10} {'tokens/s':>12}  fits")
    for i, b in enumerate(batches):
        print(f"{b:>6} {e['decode_arithmetic_intensity'][i]:>10.1f} "
              f"{format_value(e['tpot_s'][i], 's'):>10} "
              f"{e['decode_throughput_tokens_per_s'][i]:>12,.0f}  "
              f"{'yes' if e['fits'][i] else 'no'}")
    print(f"(ridge point {ridge:.0f} FLOP/byte)")
    _serving_sections()
    _adaptation_section()
    _picture_section()
    return 0


def _serving_sections() -> None:
    from .api import infer
    from .serving import serve, serve_report
    command = ("ridgeline serve llama-3-70b --on h100 --tp 8 --prompt 1000 --output 250 "
               "--users 1000 --ttft 1s --tpot 50ms")
    _section("Essay 001's question: Llama-3-70B for 1,000 users at once, under 1 s to the first "
             f"token and 50 ms per token, on H100s ({command})")
    e = serve("llama-3-70b", on="h100", tp=8, prompt=1000, output=250, users=1000, ttft="1s",
              tpot="50ms")
    print(serve_report(e))
    print(f"\nanswer: {e['replicas']:.0f} replicas of 8 H100s = {e.scenario.system.devices} "
          f"devices, {format_value(e['cost_per_mtok_usd'], 'USD')} per million output tokens")
    _section("Essay 003 for a real deployment: utilisation at a static batch of one vs busy "
             "(Llama-3.1-8B fp8 on one H100)")
    one = infer("llama-3.1-8b", on="h100", batch=1, prompt=1000, output=250, weights="fp8",
                kv="fp8", activations="fp8")
    busy = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, weights="fp8", kv="fp8",
                 activations="fp8")
    print(f"static batch of 1:    MFU while decoding {one['decode_mfu']:.2%}, "
          f"{format_value(one['cost_per_mtok_usd'], 'USD')} per million tokens")
    print(f"in-flight batching:   MFU {busy['mfu']:.1%} with {busy['batch']:.0f} sequences in "
          f"flight, {format_value(busy['cost_per_mtok_usd'], 'USD')} per million tokens")



def _adaptation_section() -> None:
    from .adaptation.prompt_cost import prompt_cost
    command = ("ridgeline prompt-cost llama-3.1-8b --on h100 --prompt 500 --output 300 "
               "--extra-prompt 3000 --tune-tokens 50M --method full")
    _section("Essay 001's three routes for one business: 3,000 tokens of instructions in every "
             f"prompt, or a fine-tune on 50M tokens that makes them unnecessary ({command})")
    routes = [("full", "full fine-tune"), ("lora", "LoRA (rank 16)")]
    base = None
    for method, label in routes:
        r = prompt_cost("llama-3.1-8b", on="h100", prompt=500, output=300, extra_prompt=3000,
                        tune_tokens="50M", method=method)
        if base is None:
            base = r
            print(f"prompt with instructions: "
                  f"{format_value(r['with_cost_per_request_usd'], 'USD')} per request, "
                  f"without them {format_value(r['without_cost_per_request_usd'], 'USD')} "
                  f"(one busy H100 each: {r['with_batch']:.0f} vs {r['without_batch']:.0f} "
                  f"requests in flight)")
            print(f"the instructions cost {format_value(r['extra_cost_per_request_usd'], 'USD')}"
                  f" per request, {format_value(r['extra_cost_per_mtok_usd'], 'USD')} per "
                  f"million output tokens")
        requests = r["fine_tune_break_even_requests"]
        print(f"{label}: {format_value(r['fine_tune_cost_usd'], 'USD')} once on 8 H100s, pays "
              f"back after " + ("never" if requests is None else f"{requests:,.0f} requests"))


#: where ``make demo`` writes its pictures, in the current directory.
PICTURES = "ridgeline-demo-pictures"


def _picture_section() -> None:
    import os

    from . import cli
    _section(f"Pictures (--plot), written into {PICTURES}/")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: pip install 'ridgeline[plot]' to draw them")
        return
    os.makedirs(PICTURES, exist_ok=True)
    for name, argv in (
            ("infer-roofline.png", ["infer", "llama-3-70b", "--on", "h100", "--tp", "8",
                                    "--batch", "64", "--prompt", "1024", "--output", "256"]),
            ("serve-latency.png", ["serve", "llama-3-70b", "--on", "h100", "--tp", "8",
                                   "--prompt", "1000", "--output", "250", "--users", "1000",
                                   "--ttft", "1s", "--tpot", "50ms"]),
            ("train-memory.png", ["train", "llama-3.1-8b", "--on", "h100", "--devices", "8",
                                  "--zero", "3"]),
            ("compare.png", ["compare", "llama-3.1-8b", "--on", "h100,h200,a100",
                             "--batch", "16"])):
        path = os.path.join(PICTURES, name)
        with open(os.devnull, "w") as quiet, _stdout(quiet):
            cli.main([*argv, "--plot", path])
        print(f"ridgeline {' '.join(argv)} --plot {path}")
    print(f"\npictures in {os.path.abspath(PICTURES)}")


def _stdout(stream):
    import contextlib
    return contextlib.redirect_stdout(stream)


if __name__ == "__main__":
    sys.exit(main())
