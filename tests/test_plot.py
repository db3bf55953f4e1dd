"""``--plot`` pictures and ``ridgeline compare``: the data drawn, read back from the figure
and from the SVG file, and the errors of bad paths or a missing matplotlib."""

import json
import sys
import xml.etree.ElementTree as ET

import pytest

import ridgeline

from ridgeline import plot
from ridgeline.api import infer, train
from ridgeline.cli import main
from ridgeline.commands import _estimate_json
from ridgeline.errors import ScenarioError
from ridgeline.serving import serve

pytest.importorskip("matplotlib", reason="the plot extra: pip install 'ridgeline[plot]'")

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def run(capsys):
    def _run(*argv):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return _run


def svg_ids(path) -> set:
    return {g.get("id") for g in ET.parse(path).getroot().iter() if g.get("id")}


def line(fig, gid, ax=0):
    found = [ln for ln in fig.axes[ax].get_lines() if ln.get_gid() == gid]
    assert len(found) == 1, [ln.get_gid() for ln in fig.axes[ax].get_lines()]
    return [float(v) for v in found[0].get_xdata()], [float(v) for v in found[0].get_ydata()]


# ---------------------------------------------------------------- infer: roofline


@pytest.fixture(scope="module")
def infer_json():
    return _estimate_json(infer("llama-3.1-8b", on="h100", batch=8, prompt=1024, output=128))


def test_roofline_points_are_flops_over_bytes_on_the_roofline(infer_json):
    pts = plot.roofline_points(infer_json)
    v = infer_json["values"]
    assert pts["ridge_point_flops_per_byte"] == pytest.approx(v["ridge_point_flops_per_byte"])
    table = {(t.removesuffix("_operations"), op["name"]): op
             for t in ("prefill_operations", "decode_operations")
             for op in infer_json["operations"][t]}
    # an operation with no arithmetic (the embedding lookup) has no place on a roofline
    placed = {k for k, op in table.items() if op["flops"] > 0}
    assert {(o["phase"], o["name"]) for o in pts["operations"]} == placed
    for o in pts["operations"]:
        op = table[o["phase"], o["name"]]
        moved = op["weight_bytes"] + op["activation_bytes"] + op["kv_bytes"]
        assert o["intensity_flops_per_byte"] == pytest.approx(op["flops"] / moved)
        bound = min(v["compute_flops_per_s"], o["intensity_flops_per_byte"]
                    * v["memory_bandwidth_bytes_per_s"])
        assert o["achieved_flops_per_s"] == pytest.approx(bound)
    # decoding 8 sequences streams every weight for 8 tokens: memory-bound, left of the ridge
    decode = [o for o in pts["operations"] if o["phase"] == "decode"]
    assert all(o["intensity_flops_per_byte"] < pts["ridge_point_flops_per_byte"]
               for o in decode)
    # a 1024-token prompt's projections reuse each weight 8192 times: compute-bound
    assert any(o["achieved_flops_per_s"] == pytest.approx(pts["compute_flops_per_s"])
               for o in pts["operations"] if o["phase"] == "prefill")


def test_infer_plot_svg_holds_the_operations(infer_json, tmp_path):
    path = tmp_path / "roofline.svg"
    fig = plot.infer_plot(infer_json, str(path))
    pts = plot.roofline_points(infer_json)
    xs, ys = line(fig, "operations-decode")
    decode = [o for o in pts["operations"] if o["phase"] == "decode"]
    assert xs == pytest.approx([o["intensity_flops_per_byte"] for o in decode])
    assert ys == pytest.approx([o["achieved_flops_per_s"] for o in decode])
    rx, ry = line(fig, "ridge-point")
    assert rx == pytest.approx([pts["ridge_point_flops_per_byte"]])
    assert ry == pytest.approx([pts["compute_flops_per_s"]])
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"
    ids = svg_ids(path)
    assert {"roofline", "roofline-peak", "ridge-point", "operations-prefill",
            "operations-decode"} <= ids
    # one marker per decode operation in the file itself
    group = next(g for g in ET.parse(path).getroot().iter(f"{SVG}g")
                 if g.get("id") == "operations-decode")
    assert len(list(group.iter(f"{SVG}use"))) == len(decode)


def test_infer_plot_png_is_a_png(infer_json, tmp_path):
    path = tmp_path / "roofline.png"
    plot.infer_plot(infer_json, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- serve: the curve


def test_serve_plot_curve_point_and_targets(tmp_path):
    e = serve("llama-3.1-8b", on="h100", prompt=1000, output=250, rate=5, ttft="500ms",
              tpot="30ms")
    pts = plot.serve_points(e)
    assert pts["concurrency"][0] == 1 and pts["concurrency"] == sorted(pts["concurrency"])
    # more in flight: more tokens per second and slower tokens
    assert pts["tokens_per_s_per_device"][-1] > pts["tokens_per_s_per_device"][0]
    assert pts["tpot_s"][-1] > pts["tpot_s"][0]
    path = tmp_path / "serve.svg"
    fig = plot.serve_plot(e, str(path))
    xs, ys = line(fig, "curve-tpot_s")
    assert xs == pytest.approx(pts["tokens_per_s_per_device"])
    assert ys == pytest.approx([v * 1e3 for v in pts["tpot_s"]])
    _, star = line(fig, "point-tpot_s")
    assert star == pytest.approx([e["tpot_s"] * 1e3])
    _, target = line(fig, "target-tpot_s")
    assert target == pytest.approx([30.0, 30.0])
    _, target = line(fig, "target-ttft_s", ax=1)
    assert target == pytest.approx([500.0, 500.0])
    assert {"curve-tpot_s", "curve-ttft_s", "target-tpot_s", "target-ttft_s"} <= svg_ids(path)


def test_serve_plot_without_a_curve_of_its_own(tmp_path):
    # saturation computes no curve; the picture evaluates the same formula for it
    e = serve("llama-3.1-8b", on="h100", prompt=1000, output=250)
    assert "serving_curve" not in e
    fig = plot.serve_plot(e, str(tmp_path / "s.png"))
    xs, _ = line(fig, "curve-tpot_s")
    # at saturation the estimate sits at the curve's far end
    assert max(xs) == pytest.approx(e["throughput_tokens_per_s_per_device"], rel=0.05)
    assert [ln.get_gid() for ln in fig.axes[0].get_lines()].count("target-tpot_s") == 0


# ---------------------------------------------------------------- train


def test_train_plot_memory_parts_and_capacity(tmp_path):
    data = _estimate_json(train("llama-3.1-8b", on="h100", devices=8, zero=3))
    path = tmp_path / "train.svg"
    fig = plot.train_plot(data, str(path))
    v = data["values"]
    mem = fig.axes[0]
    heights = {p.get_gid(): p.get_height() for p in mem.patches}
    assert heights["memory-weights-0"] == pytest.approx(v["weight_bytes_per_device"] / 1e9)
    assert heights["memory-optimizer-state-0"] == pytest.approx(
        v["optimizer_bytes_per_device"] / 1e9)
    _, cap = line(fig, "capacity")
    assert cap == pytest.approx([v["memory_capacity_bytes"] / 1e9] * 2)
    widths = [p.get_width() for p in fig.axes[1].patches]
    assert widths[0] == pytest.approx(v["micro_batches_per_step"] * v["micro_batch_s"])
    assert sum(widths) <= v["step_s"] * (1 + 1e-9)
    assert {"memory-weights-0", "capacity", "step-0"} <= svg_ids(path)


# ---------------------------------------------------------------- plan searches

def _train_plan(acc, wall, cost, **extra):
    return {"accelerator": acc, "tp": 1, "pp": 1, "dp": 8, "ep": 1, "sp": False,
            "micro_batch": 1, "interleave": 1, "recompute": "none", "zero": 0,
            "offload": "none", "step_s": wall / 1000, "wall_clock_s": wall, "cost_usd": cost,
            "energy_j": 1e9, "memory_per_device_bytes": 6e10, "mfu": 0.4, **extra}


def test_pareto_front_keeps_only_unbeaten_points():
    pts = [(1, 10), (2, 5), (3, 6), (4, 1), (2, 9)]
    # lower is better on both: (3, 6) is beaten by (2, 5); (2, 9) by (2, 5)
    assert plot.pareto_front(pts, (False, False)) == [0, 1, 3]
    # higher is better on both: only (2, 5) is beaten, by (3, 6)
    assert plot.pareto_front(pts, (True, True)) == [0, 4, 2, 3]


def test_plan_train_plot_fronts_and_winner(tmp_path):
    plans = [_train_plan("h100", 100, 50), _train_plan("h100", 200, 30),
             _train_plan("h100", 300, 40), _train_plan("a100", 150, 45),
             _train_plan("a100", 400, 20)]
    result = {"best": plans[1], "plans": plans, "pareto": plans[:2] + plans[3:],
              "configs_evaluated": 5, "configs_fitting": 5, "search_s": 0.1}
    path = tmp_path / "plan.svg"
    fig = plot.plan_train_plot(result, str(path))
    xs, ys = line(fig, "pareto-h100")
    assert list(zip(xs, ys)) == [(100, 50), (200, 30)]  # (300, 40) is beaten
    assert line(fig, "pareto-a100") == ([150, 400], [45, 20])
    assert line(fig, "winner") == ([200], [30])
    assert {"pareto-h100", "pareto-a100", "plans-h100", "winner"} <= svg_ids(path)


def test_plan_serve_plot_higher_is_better(tmp_path):
    rows = [{"accelerator": "h100", "label": f"tp{t}", "tokens_per_s_per_device": d,
             "tokens_per_s_per_user": u, "usd_per_million_tokens": 1.0}
            for t, d, u in ((1, 3000, 20), (2, 2500, 60), (4, 1000, 50), (8, 800, 120))]
    result = {"best": rows[1], "best_aggregated": rows[1], "best_disaggregated": None,
              "plans": rows, "pareto": rows}
    fig = plot.plan_serve_plot(result, str(tmp_path / "serve-plan.png"))
    assert line(fig, "pareto-h100") == ([20, 60, 120], [3000, 2500, 800])
    assert line(fig, "winner") == ([60], [2500])


@pytest.mark.parametrize("bad", [None, {}, {"plans": "x"}, {"plans": [{"accelerator": "h"}]}])
def test_plan_plot_bad_input_is_a_clear_error(bad, tmp_path):
    with pytest.raises(ScenarioError, match="plan train"):
        plot.plan_train_plot(bad, str(tmp_path / "p.png"))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["x.pdf", "x", "x.svg.txt"])
def test_unknown_extension_is_a_clear_error(name, tmp_path):
    with pytest.raises(ScenarioError, match=r"--plot: expected a file name ending in \.png"):
        plot.check_path(str(tmp_path / name))


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        plot.check_path(str(tmp_path / "no" / "x.png"))


def test_without_matplotlib_says_how_to_install(monkeypatch, infer_json, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    with pytest.raises(ScenarioError, match=r"pip install 'ridgeline\[plot\]'"):
        plot.infer_plot(infer_json, str(tmp_path / "x.png"))


def test_cli_plot_bad_extension(run, tmp_path):
    code, out, err = run("infer", "llama-3.1-8b", "--on", "h100", "--plot", tmp_path / "x.pdf")
    assert code == 1 and out == ""
    assert err.startswith("ridgeline: --plot: expected a file name ending in .png or .svg")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("command", [
    ("infer", "--batch", "4"), ("serve", "--rate", "3"), ("train", "--devices", "8",
                                                          "--zero", "3")])
def test_cli_plot_writes_the_file_and_the_report(run, tmp_path, command):
    path = tmp_path / f"{command[0]}.svg"
    code, out, err = run(command[0], "llama-3.1-8b", "--on", "h100", *command[1:],
                         "--plot", path)
    assert code == 0, err
    assert err == f"ridgeline: wrote {path}\n"
    assert "fits" in out
    assert len(svg_ids(path)) > 3


def test_cli_plot_and_disagg_is_a_clear_error(run, tmp_path):
    code, _, err = run("serve", "llama-3.1-8b", "--on", "h100", "--disagg",
                       "prefill=1x(tp=1),decode=1x(tp=1)", "--plot", tmp_path / "x.png")
    assert code == 1 and "--plot draws an aggregated deployment" in err


# ---------------------------------------------------------------- compare


def test_compare_json_matches_infer_on_each(run):
    code, out, err = run("compare", "llama-3.1-8b", "--on", "h100,a100", "--batch", "16",
                         "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["accelerator"] for r in rows] == ["nvidia-h100-sxm", "nvidia-a100-sxm4-80gb"]
    for r in rows:
        e = infer("llama-3.1-8b", on=r["accelerator"], batch=16)
        assert r["fits"] is True
        assert r["tpot_s"] == pytest.approx(e["tpot_s"])
        assert r["decode_throughput_tokens_per_s"] == pytest.approx(
            e["decode_throughput_tokens_per_s"])


def test_compare_table_and_chart(run, tmp_path):
    path = tmp_path / "cmp.svg"
    code, out, err = run("compare", "llama-3.1-8b", "--on", "h100,a100", "--serve",
                         "--rate", "4", "--plot", path)
    assert code == 0, err
    assert out.splitlines()[0].split()[:2] == ["accelerator", "fits"]
    assert "nvidia-h100-sxm" in out and "nvidia-a100-sxm4-80gb" in out
    assert {"compare-tpot_s-0", "compare-tpot_s-1"} <= svg_ids(path)


def test_compare_errors(run):
    code, _, err = run("compare", "llama-3.1-8b", "--on", "h100,nope-9")
    assert code == 1 and "nope-9" in err and len(err.splitlines()) == 1
    code, _, err = run("compare", "llama-3.1-8b", "--on", " , ")
    assert code == 1 and "--on: expected accelerators separated by commas" in err
    code, _, err = run("compare", "llama-3.1-8b", "--on", "h100", "--rate", "3")
    assert code == 1 and "--rate is a serving load: add --serve" in err


# ---------------------------------------------------------------- make demo


def test_demo_writes_its_pictures_and_says_where(tmp_path, monkeypatch, capsys):
    from ridgeline import demo
    monkeypatch.chdir(tmp_path)
    demo._picture_section()
    out = capsys.readouterr().out
    folder = tmp_path / demo.PICTURES
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["compare.png", "infer-roofline.png", "serve-latency.png",
                     "train-memory.png"]
    for p in folder.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"pictures in {folder}" in out


@pytest.mark.parametrize("command", [
    ("plan", "train", "llama-3.1-8b", "--on", "a100,h100", "--devices", "16", "--top", "3"),
    ("plan", "serve", "llama-3.1-8b", "--on", "h100", "--devices", "2", "--no-disagg")])
def test_cli_plan_plot_draws_each_accelerators_frontier_and_the_winner(run, tmp_path, command):
    path = tmp_path / "plan.svg"
    code, out, err = run(*command, "--plot", path)
    assert code == 0, err
    assert f"ridgeline: wrote {path}" in err
    ids = svg_ids(path)
    assert "winner" in ids
    names = command[command.index("--on") + 1].split(",")
    catalog = ridgeline.default_catalog()
    assert {f"pareto-{catalog.accelerator(n).id}" for n in names} <= set(ids)
