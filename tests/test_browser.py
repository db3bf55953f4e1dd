"""The web page in a real browser: headless Chromium driven by Selenium fills the infer form,
reads the result and checks that Plotly drew the operations. Takes a screenshot; with
``RIDGELINE_SCREENSHOT=1`` it is saved as docs/images/web.png (the README's), so an ordinary run
leaves the repository as it found it. Skips where no browser is installed (``apt-get install chromium
chromium-driver``)."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra: pip install 'ridgeline[web]'")
pytest.importorskip("plotly", reason="the web extra: pip install 'ridgeline[web]'")
uvicorn = pytest.importorskip("uvicorn", reason="the web extra: pip install 'ridgeline[web]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not CHROMIUM or not os.path.exists(CHROMEDRIVER):
    pytest.skip("no headless browser: apt-get install -y chromium chromium-driver",
                allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from ridgeline.web.app import make_app  # noqa: E402

README_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "images" / "web.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    config = uvicorn.Config(make_app(), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline:
            pytest.fail("the web server did not start in 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1200,1000"):
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as exc:  # noqa: BLE001 - a browser that will not start is a skip
        pytest.skip(f"headless Chromium did not start: {exc}")
    yield driver
    driver.quit()


def test_fill_the_infer_form_and_see_the_roofline(server, browser, tmp_path):
    shot = README_SCREENSHOT if os.environ.get("RIDGELINE_SCREENSHOT") else tmp_path / "web.png"
    browser.get(f"{server}/infer")
    model = browser.find_element(By.ID, "f-model")
    model.clear()
    model.send_keys("llama-3.1-8b")
    batch = browser.find_element(By.ID, "f-batch")
    batch.clear()
    batch.send_keys("16")
    browser.find_element(By.ID, "run").click()
    wait = WebDriverWait(browser, 30)
    fits = wait.until(EC.presence_of_element_located((By.ID, "fits")))
    assert fits.text == "fits: yes"
    tpot = browser.find_element(By.CSS_SELECTOR, 'a[data-quantity="tpot_s"]')
    assert tpot.text.endswith("ms")
    # Plotly drew one point per operation of the prefill and decode passes
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg .scatterlayer .point"))
    points = browser.find_elements(By.CSS_SELECTOR, "#chart svg .scatterlayer .point")
    drawn = browser.execute_script(
        "return document.getElementById('chart').data.filter(t => t.name.endsWith"
        "('operations')).reduce((n, t) => n + t.x.length, 0)")
    assert drawn > 5
    assert len(points) >= drawn
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a number's link leads to its explanation
    tpot.click()
    tree = wait.until(EC.presence_of_element_located((By.ID, "tree")))
    assert tree.text.startswith("tpot_s = ")


def test_bad_input_is_shown_on_the_page(server, browser):
    browser.get(f"{server}/infer?model=llama-3.1-8b&on=h999")
    error = browser.find_element(By.ID, "error")
    assert error.text.startswith("unknown accelerator 'h999'")
