"""The web page's ASGI application (Starlette) and ``serve_forever`` (uvicorn)."""

from __future__ import annotations

import html
import json
import os
from typing import Optional
from urllib.parse import urlencode

from ..errors import ScenarioError
from ..units import format_value, unit_of
from . import forms

_HERE = os.path.dirname(__file__)


def _imports():
    try:
        import starlette  # noqa: F401
        import plotly  # noqa: F401
    except ImportError as exc:
        raise ScenarioError(f"ridgeline web needs {exc.name}, which is not installed: "
                            f"pip install 'ridgeline[web]'") from None


def plotly_js_path() -> str:
    """The plotly.min.js that the plotly package ships (the page fetches nothing else)."""
    import plotly
    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    if not os.path.isfile(path):
        raise ScenarioError(f"the plotly package has no plotly.min.js at {path}: reinstall "
                            f"it (pip install 'ridgeline[web]')")
    return path


def _template() -> str:
    with open(os.path.join(_HERE, "templates", "page.html"), encoding="utf-8") as f:
        return f.read()


def _form_html(form: forms.Form, values: dict) -> str:
    rows = []
    for f in form.fields:
        value = values.get(f.name, f.default)
        if f.kind == "choice":
            options = "".join(f'<option{" selected" if c == value else ""}>{html.escape(c)}'
                              f'</option>' for c in f.choices)
            widget = f'<select name="{f.name}" id="f-{f.name}">{options}</select>'
        else:
            widget = (f'<input name="{f.name}" id="f-{f.name}" '
                      f'value="{html.escape(str(value))}" placeholder="{html.escape(f.flag)}">')
        rows.append(f'<label for="f-{f.name}">{html.escape(f.label)}</label>{widget}')
    return (f'<form method="get" action="/{form.command}" id="form">'
            f'<div class="fields">{"".join(rows)}</div>'
            f'<button type="submit" id="run">estimate</button></form>')


def _values_html(command: str, values: dict, payload: dict) -> str:
    """Every number, linked to the page that explains it."""
    rows = []
    query = {k: v for k, v in values.items() if v not in (None, "")}
    for q, v in payload["values"].items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            shown = html.escape(str(v))
        else:
            shown = html.escape(format_value(v, payload["units"].get(q) or unit_of(q)))
        link = f"/explain/{command}?" + urlencode({**query, "quantity": q})
        rows.append(f'<tr><td>{html.escape(q)}</td><td class="num">'
                    f'<a href="{html.escape(link)}" data-quantity="{html.escape(q)}">{shown}'
                    f'</a></td></tr>')
    return f'<table id="values"><tr><th>quantity</th><th>value</th></tr>{"".join(rows)}</table>'


#: a plan's columns on the page: (heading, key, unit).
_PLAN_COLUMNS = {
    "plan-train": (("step", "step_s", "s"), ("wall clock", "wall_clock_s", "s"),
                   ("cost", "cost_usd", "USD"), ("memory/device", "memory_per_device_bytes", "B"),
                   ("MFU", "mfu", "")),
    "plan-serve": (("tok/s/device", "tokens_per_s_per_device", "tokens/s"),
                   ("tok/s/user", "tokens_per_s_per_user", "tokens/s"), ("TTFT", "ttft_s", "s"),
                   ("TPOT", "tpot_s", "s"), ("USD/Mtok", "usd_per_million_tokens", "USD")),
}


def _plan_text(p: dict) -> str:
    if "label" in p:
        return f"{p.get('mode', '')} {p['label']}"
    text = f"tp{p['tp']} pp{p['pp']} dp{p['dp']} mb{p['micro_batch']}"
    text += f" ep{p['ep']}" if p["ep"] > 1 else ""
    text += f" v{p['interleave']}" if p["interleave"] > 1 else ""
    text += " sp" if p["sp"] else ""
    return text + f" zero{p['zero']} rc-{p['recompute']}" + \
        (f" offload-{p['offload']}" if p["offload"] != "none" else "")


def _estimate_link(command: str, values: dict, p: dict) -> Optional[str]:
    """The single-estimate page of one plan, whose every number links to its explanation;
    None where that form cannot state the plan (sequence parallelism, interleaving,
    offload, a disaggregated deployment)."""
    if command == "plan-train":
        if p["sp"] or p["interleave"] > 1 or p["offload"] != "none" or p["ep"] > 1:
            return None
        query = {k: values[k] for k in ("model", "global_batch", "seq", "tokens") if values.get(k)}
        query.update(on=p["accelerator"], devices=p["tp"] * p["pp"] * p["dp"], tp=p["tp"],
                     pp=p["pp"], dp=p["dp"], micro_batch=p["micro_batch"], zero=p["zero"],
                     recompute=p["recompute"])
        return "/train?" + urlencode(query)
    if p.get("mode") != "aggregated" or p.get("ep", 1) > 1:
        return None
    query = {k: values[k] for k in ("model", "prompt", "output", "ttft", "tpot") if values.get(k)}
    query.update(on=p["accelerator"], devices=p["devices"], tp=p["tp"], pp=p["pp"],
                 weights=p["weights"], kv=p["kv"], activations=p["activations"],
                 max_batch=p["max_batch"])
    return "/serve?" + urlencode(query)


def _plans_html(command: str, values: dict, result: dict) -> str:
    """The ranked plans; each links to its own estimate, whose numbers link to their
    explanations."""
    columns = _PLAN_COLUMNS[command]
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _, _ in columns)
    rows = []
    for rank, p in enumerate(result.get("plans") or [], 1):
        link = _estimate_link(command, values, p)
        plan = html.escape(_plan_text(p))
        plan = f'<a href="{html.escape(link)}">{plan}</a>' if link else plan
        cells = "".join(f'<td class="num">{html.escape(format_value(p[k], u) if p.get(k) is not None else "-")}</td>'
                        for _, k, u in columns)
        rows.append(f"<tr><td>{rank}</td><td>{html.escape(p['accelerator'])}</td>"
                    f"<td>{plan}</td>{cells}</tr>")
    summary = (f'<p id="searched">{result.get("configs_evaluated", 0):,} configurations '
               f'searched, {result.get("configs_fitting", 0):,} fit, in '
               f'{result.get("search_s", 0):.2f} s</p>')
    if not rows:
        reason = result.get("reason") or "no plan fits"
        return summary + f'<p class="error" id="error">{html.escape(str(reason))}</p>'
    return (summary + f'<table id="plans"><tr><th>#</th><th>accelerator</th><th>plan</th>'
            f'{head}</tr>{"".join(rows)}</table>')


def _page(title: str, nav_command: Optional[str], body: str, chart: Optional[dict] = None
          ) -> str:
    nav = " ".join(f'<a href="/{c}"{" class=here" if c == nav_command else ""}>{c}</a>'
                   for c in forms.FORMS)
    data = json.dumps(chart).replace("</", "<\\/") if chart else "null"
    return (_template().replace("{{title}}", html.escape(title)).replace("{{nav}}", nav)
            .replace("{{body}}", body).replace("{{chart}}", data))


def make_app(registry: tuple = ()):
    """The Starlette application; ``registry``: extra registry folders, as ``--registry``."""
    _imports()
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, \
        RedirectResponse
    from starlette.routing import Route

    from ..catalog import default_catalog
    catalog = default_catalog(registry=tuple(registry))
    plotly_js = plotly_js_path()

    def values_of(request) -> dict:
        return {k: v for k, v in request.query_params.items()}

    async def home(request):
        return RedirectResponse("/infer")

    async def form_page(request):
        command = request.path_params["command"]
        form = forms.FORMS.get(command)
        if form is None:
            return HTMLResponse(_page("not found", None, f"<p class=error>no form "
                                      f"{html.escape(command)}</p>"), status_code=404)
        values = values_of(request)
        body = f"<h2>{html.escape(form.title)}</h2>" + _form_html(form, values)
        if not values:
            return HTMLResponse(_page(form.title, command, body))
        try:
            e, payload = forms.run(command, values, catalog, registry)
            chart = {"kind": form.chart, **forms.chart_data(form, e, payload)}
        except Exception as exc:  # noqa: BLE001 - every error is shown on the page
            body += f'<p class="error" id="error">{html.escape(forms.error_text(exc))}</p>'
            return HTMLResponse(_page(form.title, command, body), status_code=400)
        if command in forms.PLAN_FORMS:
            body += '<div id="chart"></div>' + _plans_html(command, values, payload)
            return HTMLResponse(_page(form.title, command, body, chart))
        fits = payload["values"].get("fits")
        body += (f'<p id="fits" class="{"ok" if fits else "error"}">fits: '
                 f'{"yes" if fits else "NO"}</p><div id="chart"></div>'
                 + _values_html(command, values, payload))
        return HTMLResponse(_page(form.title, command, body, chart))

    async def explain_page(request):
        command = request.path_params["command"]
        values = values_of(request)
        quantity = values.pop("quantity", "")
        if command in forms.PLAN_FORMS:
            return RedirectResponse(f"/{command}?" + urlencode(values))
        try:
            e, payload = forms.run(command, values, catalog, registry)
            tree = e.explain(quantity)
        except Exception as exc:  # noqa: BLE001
            return HTMLResponse(_page("explain", command, f'<p class="error" id="error">'
                                      f'{html.escape(forms.error_text(exc))}</p>'),
                                status_code=400)
        back = f"/{command}?" + urlencode(values)
        body = (f'<h2>why {html.escape(quantity)}?</h2><pre id="tree">{html.escape(tree)}'
                f'</pre><p><a href="{html.escape(back)}">back</a></p>')
        return HTMLResponse(_page(f"explain {quantity}", command, body))

    async def api(request):
        command = request.path_params["command"]
        try:
            values = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be a JSON object of the form's "
                                          "fields"}, status_code=400)
        if not isinstance(values, dict):
            return JSONResponse({"error": f"the body must be a JSON object of the form's "
                                          f"fields, got {type(values).__name__}"},
                                status_code=400)
        quantity = values.pop("quantity", None)
        if quantity is not None and command in forms.PLAN_FORMS:
            return JSONResponse({"error": f"quantity: a plan search ranks plans; explain a "
                                          f"quantity of one plan through its own form "
                                          f"(/api/train or /api/serve)"}, status_code=400)
        try:
            e, payload = forms.run(command, values, catalog, registry)
            if quantity is not None:  # as ridgeline explain ... --json
                payload = {"quantity": quantity, "value": payload["values"].get(quantity),
                           "tree": e.explain(quantity).splitlines()}
        except Exception as exc:  # noqa: BLE001
            return JSONResponse({"error": forms.error_text(exc)}, status_code=400)
        return JSONResponse(json.loads(json.dumps(payload, default=str)))

    async def forms_api(request):
        return JSONResponse({c: {"title": f.title, "chart": f.chart,
                                 "fields": [f2._asdict() for f2 in f.fields]}
                             for c, f in forms.FORMS.items()})

    async def static(request):
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js, media_type="application/javascript")
        if name in ("app.js", "style.css"):
            return FileResponse(os.path.join(_HERE, "static", name))
        return JSONResponse({"error": f"no static file {name}"}, status_code=404)

    return Starlette(routes=[
        Route("/", home), Route("/static/{name}", static),
        Route("/api/forms", forms_api), Route("/api/{command}", api, methods=["POST"]),
        Route("/explain/{command}", explain_page), Route("/{command}", form_page)])


def serve_forever(host: str = "127.0.0.1", port: int = 8000, registry: tuple = ()) -> int:
    """``ridgeline web``: serve the page until interrupted."""
    if not 0 < port < 65536:
        raise ScenarioError(f"--port: expected a port number 1-65535, got {port}")
    app = make_app(registry)
    try:
        import uvicorn
    except ImportError:
        raise ScenarioError("ridgeline web needs uvicorn, which is not installed: "
                            "pip install 'ridgeline[web]'") from None
    print(f"ridgeline web: http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
