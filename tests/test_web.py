"""``ridgeline web``: the pages and the JSON API through Starlette's TestClient."""

import json
import re

import pytest

pytest.importorskip("starlette", reason="the web extra: pip install 'ridgeline[web]'")
pytest.importorskip("plotly", reason="the web extra: pip install 'ridgeline[web]'")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

import warnings  # noqa: E402

with warnings.catch_warnings():  # newer Starlette asks for httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from ridgeline.cli import main  # noqa: E402
from ridgeline.web import forms  # noqa: E402
from ridgeline.web.app import make_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    return TestClient(make_app())


def cli_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def chart_of(page: str):
    text = re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', page,
                     re.S).group(1)
    return json.loads(text)


@pytest.mark.parametrize("command, body, argv", [
    ("infer", {"model": "llama-3.1-8b", "on": "h100", "batch": 8, "prompt": "1k"},
     ["infer", "llama-3.1-8b", "--on", "h100", "--batch", "8", "--prompt", "1k"]),
    ("serve", {"model": "llama-3.1-8b", "on": "h100", "rate": "5", "ttft": "1s"},
     ["serve", "llama-3.1-8b", "--on", "h100", "--rate", "5", "--ttft", "1s"]),
    ("train", {"model": "llama-3.1-8b", "on": "h100", "devices": 8, "zero": 3},
     ["train", "llama-3.1-8b", "--on", "h100", "--devices", "8", "--zero", "3"]),
])
def test_api_payload_is_the_cli_json(client, capsys, command, body, argv):
    r = client.post(f"/api/{command}", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == json.loads(json.dumps(cli_json(capsys, *argv)))


def test_api_explain_is_the_cli_explain(client, capsys):
    r = client.post("/api/infer", json={"model": "llama-3.1-8b", "on": "h100",
                                        "quantity": "tpot_s"})
    assert r.status_code == 200
    assert r.json() == cli_json(capsys, "explain", "infer", "llama-3.1-8b", "--on", "h100",
                                "--quantity", "tpot_s")


@pytest.mark.parametrize("body, message", [
    ({"model": "llama-3.1-8b", "on": "h999"}, "unknown accelerator 'h999'"),
    ({"model": "llama-3.1-8b", "on": "h100", "tp": "abc"}, "argument --tp: invalid int value"),
    ({"model": "llama-3.1-8b", "on": "h100", "batch": "-3"}, "batch"),
    ({"model": "llama-3.1-8b", "on": "h100", "colour": "red"}, "unknown field(s) colour"),
    ({"model": "llama-3.1-8b"}, "--on"),
    ({"model": "llama-3.1-8b", "on": "h100", "tp": [1, 2]}, "tp: expected a number or text"),
])
def test_api_bad_input_is_400_with_the_cli_message(client, capsys, body, message):
    r = client.post("/api/infer", json=body)
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert "Traceback" not in r.text


def test_api_body_must_be_an_object(client):
    assert client.post("/api/infer", content=b"[1]").status_code == 400
    r = client.post("/api/infer", content=b"not json")
    assert r.status_code == 400 and "JSON object" in r.json()["error"]


def test_api_unknown_command(client):
    r = client.post("/api/cook", json={})
    assert r.status_code == 400 and "expected one of infer, serve, train" in r.json()["error"]


def test_form_page_shows_fields_and_no_result(client):
    r = client.get("/infer")
    assert r.status_code == 200
    for field in forms.FORMS["infer"].fields:
        assert f'name="{field.name}"' in r.text
    assert chart_of(r.text) is None


def test_result_page_numbers_link_to_their_explanation(client):
    r = client.get("/infer", params={"model": "llama-3.1-8b", "on": "h100", "batch": "8"})
    assert r.status_code == 200
    links = re.findall(r'<a href="([^"]+)" data-quantity="tpot_s">([^<]+)</a>', r.text)
    assert len(links) == 1
    href, shown = links[0]
    assert shown.endswith("ms")
    page = client.get(href.replace("&amp;", "&"))
    assert page.status_code == 200
    tree = re.search(r'<pre id="tree">(.*?)</pre>', page.text, re.S).group(1)
    assert tree.startswith("tpot_s = ")
    chart = chart_of(r.text)
    assert chart["kind"] == "roofline" and len(chart["operations"]) > 5


def test_result_pages_carry_their_chart(client):
    r = client.get("/serve", params={"model": "llama-3.1-8b", "on": "h100", "rate": "5",
                                     "tpot": "30ms"})
    chart = chart_of(r.text)
    assert chart["kind"] == "serving" and chart["tpot_target_s"] == pytest.approx(0.03)
    assert len(chart["tokens_per_s_per_device"]) == len(chart["concurrency"]) > 10
    r = client.get("/train", params={"model": "llama-3.1-8b", "on": "h100", "devices": "8"})
    chart = chart_of(r.text)
    assert chart["kind"] == "training" and [p[0] for p in chart["memory"]][0] == "weights"


def test_bad_form_input_is_shown_on_the_page(client):
    r = client.get("/train", params={"model": "llama-3.1-8b", "on": "h100", "zero": "7"})
    assert r.status_code == 400
    error = re.search(r'<p class="error" id="error">(.*?)</p>', r.text).group(1)
    assert error == "argument --zero: invalid choice: 7 (choose from 0, 1, 2, 3)"
    # the form keeps what was typed
    assert 'name="model" id="f-model" value="llama-3.1-8b"' in r.text


def test_plotly_is_served_from_the_package(client):
    import os

    import plotly
    r = client.get("/static/plotly.min.js")
    assert r.status_code == 200
    shipped = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    assert r.content == open(shipped, "rb").read()
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/secrets").status_code == 404
    page = client.get("/infer").text
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere


def test_the_form_table_is_served_for_new_forms(client):
    r = client.get("/api/forms")
    assert set(r.json()) == set(forms.FORMS)
    assert r.json()["train"]["fields"][0]["name"] == "model"


def test_every_form_field_is_a_cli_flag():
    from ridgeline.cli import make_parser
    parser = make_parser()
    for command, form in forms.FORMS.items():
        sub = parser
        for word in form.words or (command,):
            sub = next(a for a in sub._actions if hasattr(a, "choices") and a.choices
                       and word in a.choices).choices[word]
        flags = {s for a in sub._actions for s in a.option_strings}
        for field in form.fields:
            assert not field.flag or field.flag in flags, (command, field)


def test_web_command_bad_port(capsys):
    code = main(["web", "--port", "70000"])
    assert code == 1
    assert "--port: expected a port number 1-65535" in capsys.readouterr().err


PLAN_SEARCHES = [
    ("plan-train", {"model": "llama-3.1-8b", "on": "h100,a100", "devices": "16", "top": "3"},
     ["plan", "train", "llama-3.1-8b", "--on", "h100,a100", "--devices", "16", "--top", "3"]),
    ("plan-serve", {"model": "llama-3.1-8b", "on": "h100", "devices": "2", "prompt": "1000"},
     ["plan", "serve", "llama-3.1-8b", "--on", "h100", "--devices", "2", "--prompt", "1000"]),
]


def _ranked(result: dict) -> list:
    keep = ("accelerator", "tp", "pp", "dp", "micro_batch", "label", "step_s",
            "tokens_per_s_per_device")
    return [{k: p.get(k) for k in keep} for p in result["plans"]]


@pytest.mark.parametrize("command, body, argv", PLAN_SEARCHES)
def test_plan_api_ranks_as_the_cli(client, capsys, command, body, argv):
    r = client.post(f"/api/{command}", json=body)
    assert r.status_code == 200, r.text
    assert _ranked(r.json()) == _ranked(cli_json(capsys, *argv))


@pytest.mark.parametrize("command, body, argv", PLAN_SEARCHES)
def test_plan_page_links_each_plan_to_its_own_estimate(client, command, body, argv):
    r = client.get(f"/{command}", params=body)
    assert r.status_code == 200, r.text
    chart = chart_of(r.text)
    assert chart["kind"] == "plan" and chart["winner"] is not None
    links = [link.replace("&amp;", "&") for link in
             re.findall(r'href="(/(?:train|serve)\?[^"]+)"', r.text)]
    assert links
    one = client.get(links[0])
    assert one.status_code == 200 and 'id="values"' in one.text


def test_plan_form_bad_input_is_the_cli_message(client, capsys):
    r = client.post("/api/plan-train", json={"model": "llama-3.1-8b", "on": "h100",
                                             "devices": "-3"})
    assert r.status_code == 400
    assert main(["plan", "train", "llama-3.1-8b", "--on", "h100", "--devices", "-3"]) == 1
    assert r.json()["error"] in capsys.readouterr().err
