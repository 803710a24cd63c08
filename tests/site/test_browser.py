"""The built site as a reader sees it: every page loaded in headless Chromium, with no network.

The site is served on 127.0.0.1, and Chromium resolves every other host to nothing, so a page that
still needs a CDN fails here whether or not the machine is online. Screenshots of the intro and of
each chapter page are written to _build/screenshots/ (GDL_SCREENSHOTS overrides the folder).
"""

import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from test_site import DOCS, NOTEBOOKS, REPO, ROOT, SITE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(os.environ.get("GDL_SCREENSHOTS", ROOT / "_build" / "screenshots"))

if not (CHROMIUM and CHROMEDRIVER):
    reason = "Chromium and ChromeDriver are not installed (Debian: apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser test (.ci/run installs them)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="gdl-chromium-")
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        f"--user-data-dir={profile}", "--window-size=1280,1600",
        # No network but the local server: any request to another host fails, as it would offline.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.get("about:blank")
    time.sleep(1)
    driver.get_log("performance")
    driver.get_log("browser")
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _network_failures(driver):
    """Failed requests and HTTP errors since the last call, from Chromium's performance log."""
    failures, urls = [], {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.responseReceived" and params["response"]["status"] >= 400:
            failures.append(f"HTTP {params['response']['status']} {params['response']['url']}")
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(params["requestId"])
            if url is not None:  # requests of Chromium's own start-up pages have no URL here
                failures.append(f"{params.get('errorText')} {url}")
    return failures


def _wait_for_mathjax(driver):
    """Wait until MathJax (if the page loads it) has finished typesetting."""
    driver.set_script_timeout(30)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1], t0 = Date.now();"
        "if (!document.querySelector('script[src*=\"mathjax\"]')) { done(true); return; }"
        "(function poll() {"
        "  if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        "    MathJax.startup.promise.then(() => done(true), () => done(false));"
        "  else if (Date.now() - t0 > 20000) done(false);"
        "  else setTimeout(poll, 100);"
        "})();"
    )


def _prose_text(driver):
    """The visible text of the article without code and outputs (where a `$` is legitimate)."""
    return driver.execute_script(
        "const a = document.querySelector('article') || document.body;"
        "const c = a.cloneNode(true);"
        "c.querySelectorAll('pre, code, .cell_output, .cell_input, script, style').forEach(e => e.remove());"
        "return c.innerText;"
    )


@pytest.fixture(scope="module")
def visited(server, browser):
    """Load every page once; return what each one showed."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    results = {}
    browser.get_log("performance")
    for doc in DOCS:
        browser.get(f"{server}/{doc}.html")
        _wait_for_mathjax(browser)
        if browser.find_elements(By.CSS_SELECTOR, 'script[type="application/vnd.jupyter.widget-view+json"]'):
            try:
                WebDriverWait(browser, 30).until(
                    lambda d: d.find_elements(By.CSS_SELECTOR, ".jupyter-widgets, .widget-slider, .widget-hslider")
                )
            except Exception:
                pass  # the assertion below reports it
        time.sleep(0.3)
        results[doc] = {
            "failures": _network_failures(browser),
            "console": [e for e in browser.get_log("browser") if e["level"] == "SEVERE"],
            "mathjax": len(browser.find_elements(By.CSS_SELECTOR, "mjx-container")),
            "prose": _prose_text(browser),
            "images": browser.execute_script(
                "return [...document.querySelectorAll('.cell_output img')]"
                ".map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);"
            ),
            "widget_scripts": len(browser.find_elements(
                By.CSS_SELECTOR, 'script[type="application/vnd.jupyter.widget-view+json"]')),
            "widgets": len(browser.find_elements(By.CSS_SELECTOR, ".widget-slider, .widget-hslider")),
            "text": browser.find_element(By.TAG_NAME, "body").text,
            "links": browser.execute_script(
                "return [...document.querySelectorAll('a[href]')].map(a => a.href);"
            ),
        }
        if doc == DOCS[0] or doc.startswith("chapters/"):  # the whole page, up to 12,000 pixels tall
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(1280, min(height, 12_000))
            browser.save_screenshot(str(SCREENSHOTS / (doc.replace("/", "_") + ".png")))
            browser.set_window_size(1280, 1600)
    return results


@pytest.mark.parametrize("doc", DOCS)
def test_no_failed_request_and_no_console_error(visited, doc):
    assert visited[doc]["failures"] == [], f"{doc}: failed requests {visited[doc]['failures']}"
    assert visited[doc]["console"] == [], f"{doc}: console errors {visited[doc]['console']}"


@pytest.mark.parametrize("doc", DOCS)
def test_math_is_typeset(visited, doc):
    source = (ROOT / f"{doc}.md") if (ROOT / f"{doc}.md").exists() else ROOT / f"{doc}.ipynb"
    has_math = bool(re.search(r"\$[^$\s][^$]*\$|\$\$", source.read_text().replace("\\$", "")))
    if has_math:
        assert visited[doc]["mathjax"] > 0, f"{doc}: the page has math but MathJax typeset none"
    prose = visited[doc]["prose"]
    assert "$$" not in prose and "\\frac" not in prose, f"{doc}: raw TeX left in the page"


@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_notebook_pages_show_figures_and_launch_links(visited, doc):
    images = visited[doc]["images"]
    if doc.startswith("chapters/"):
        assert images, f"{doc}: no figure in the outputs"
    broken = [src for src, ok in images if not ok]
    assert not broken, f"{doc}: images that did not load: {broken}"
    links = visited[doc]["links"]
    assert f"https://colab.research.google.com/github/{REPO}/blob/main/{doc}.ipynb" in links
    assert any(link.startswith(f"https://mybinder.org/v2/gh/{REPO}/main?urlpath=tree/{doc}.ipynb") for link in links)
    assert "executing this notebook took" in visited[doc]["text"], f"{doc}: no execution time near the top"


@pytest.mark.parametrize("doc", DOCS)
def test_widgets_render(visited, doc):
    if visited[doc]["widget_scripts"]:
        assert "state not found" not in visited[doc]["text"].lower()
        assert visited[doc]["widgets"] > 0, f"{doc}: widget views did not render"


def test_some_page_has_a_widget(visited):
    assert any(v["widget_scripts"] for v in visited.values()), "Chapter 1 has a widget; no page shows one"


def test_internal_links_resolve(visited, server):
    """Every link to a page of the site loads, and every #anchor exists on its page."""
    checked, broken = {}, []
    for doc, result in visited.items():
        for link in result["links"]:
            if not link.startswith(server):
                continue
            url, _, fragment = link.partition("#")
            if url not in checked:
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        checked[url] = response.read().decode("utf-8", "replace")
                except Exception as err:
                    checked[url] = None
                    broken.append(f"{doc} -> {link} ({err})")
                    continue
            body = checked[url]
            if fragment and body is not None and url.endswith(".html"):
                anchor = urllib.parse.unquote(fragment)
                if f'id="{anchor}"' not in body and f'name="{anchor}"' not in body:
                    broken.append(f"{doc} -> {link} (no anchor {anchor!r})")
    assert not broken, "broken internal links:\n" + "\n".join(broken)
    assert len(checked) >= len(DOCS)


def test_search_finds_a_chapter_term(server, browser):
    browser.get(f"{server}/search.html?q=reparameterization")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li, ul.search li"))
    hits = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "ul.search li a")]
    assert any("chapters/01_gaussian.html" in h for h in hits), hits


def test_screenshots_were_written(visited):
    shots = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
    expected = [d.replace("/", "_") + ".png" for d in DOCS if d == DOCS[0] or d.startswith("chapters/")]
    assert set(expected) <= set(shots)
    assert all((SCREENSHOTS / name).stat().st_size > 10_000 for name in expected)
