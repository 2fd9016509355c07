"""Check the built documentation site: links, the API reference's names, and a real browser.

Usage (after ``python -m sphinx -W -b html docs docs/_build/html``)::

    python docs/check_site.py [docs/_build/html] [--no-browser]

Fails (exit status 1, one line per problem) when

- an internal link (``href``) or image (``src``) of any built HTML page does not resolve to a
  built file, or its ``#anchor`` to an ``id`` in that file;
- a public name (``fastrep.__all__``, ``fastrep.experiments.__all__``, and the public
  functions of ``fastrep.metrics``, ``fastrep.theory``, ``fastrep.diagnostics`` and
  ``fastrep.ridge``) has no entry in the API reference;
- in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by selenium),
  the home page, one gallery page or one API page logs a console error, or holds an image
  that does not load (``naturalWidth`` 0).

The pages are served over HTTP from a local server (as a reader's browser would get them),
not opened as ``file://`` URLs.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib
import inspect
import shutil
import sys
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fastrep the site was built from (as docs/conf.py does)
sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_names  # noqa: E402  (docs/api_names.py: the reference's namespaces and names)

#: pages opened in the browser (relative to the site's root)
BROWSER_PAGES = ["index.html", "auto_examples/plot_01_one_fit.html",
                 "api/generated/fastrep.OneStepNetwork.html"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class _Page(HTMLParser):
    """The ids, links and image sources of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key) and (key == "id" or tag == "a"):
                self.ids.add(attrs[key])
        if tag in ("a", "link") and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.links.append(attrs["src"])


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def _pages(site: Path) -> list[Path]:
    """The built pages (not the theme's template fragments copied into _static)."""
    return sorted(p for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0].startswith(("_static", "_sources", "_downloads")))


def check_links(site: Path) -> list[str]:
    """Every internal href/src of every built page resolves, anchors included."""
    problems = []
    for html in _pages(site):
        for link in _parse(html).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue  # external: not checked (the build runs offline)
            target = html if not parts.path else (html.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{html.relative_to(site)}: {link}"
            if not target.exists():
                problems.append(f"broken link {where} (no file {target})")
                continue
            if not str(target.resolve()).startswith(str(site.resolve())):
                problems.append(f"link outside the site {where}")
                continue
            if parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target).ids:
                    problems.append(f"broken anchor {where}")
    return problems


def public_names() -> list[str]:
    """Fully qualified public names that the API reference must document."""
    return [f"{module_name}.{n}" for module_name in api_names.NAMESPACES
            for n in api_names.public_names(module_name)]


def check_api(site: Path) -> list[str]:
    """Every public name has an entry (an element with its id) in the API reference."""
    ids: set[str] = set()
    for html in (site / "api").rglob("*.html"):
        ids |= _parse(html).ids
    problems = []
    for full in public_names():
        module, _, name = full.rpartition(".")
        value = getattr(importlib.import_module(module), name)
        anchor = f"module-{value.__name__}" if inspect.ismodule(value) else full
        if anchor not in ids:
            problems.append(f"public name {full} is not in the API reference (no id {anchor!r})")
    return problems


def check_browser(site: Path) -> list[str]:
    """Open the pages in headless Chromium: no console error, every image loaded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="fastrep-docs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    problems = []
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(60)
        for page in BROWSER_PAGES:
            if not (site / page).exists():
                problems.append(f"browser: {page} was not built")
                continue
            url = f"http://127.0.0.1:{server.server_address[1]}/{page}"
            driver.get(url)
            broken = driver.execute_async_script("""
                const done = arguments[arguments.length - 1];
                const imgs = Array.from(document.images);
                imgs.forEach(img => { img.loading = 'eager'; });
                Promise.all(imgs.map(img => img.decode().catch(() => null))).then(() =>
                    done(imgs.filter(img => img.naturalWidth === 0).map(img => img.src)));
            """)
            n_images = driver.execute_script("return document.images.length")
            problems += [f"browser: {page}: image does not load: {src}" for src in broken]
            for entry in driver.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    problems.append(f"browser: {page}: console error: {entry.get('message')}")
            print(f"check_site: opened {page} ({n_images} images)")
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return problems


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the check prints its own lines
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", default=str(ROOT / "docs" / "_build" / "html"),
                        help="the built HTML folder (default: docs/_build/html)")
    parser.add_argument("--no-browser", action="store_true",
                        help="check links and names only (no Chromium)")
    args = parser.parse_args(argv)
    site = Path(args.site).resolve()
    if not (site / "index.html").exists():
        print(f"check_site: {site} holds no built site (index.html missing)", file=sys.stderr)
        return 1
    problems = check_links(site)
    n_pages = len(_pages(site))
    print(f"check_site: internal links of {n_pages} pages checked")
    problems += check_api(site)
    print(f"check_site: {len(public_names())} public names looked up in the API reference")
    if not args.no_browser:
        problems += check_browser(site)
    for line in problems:
        print(f"check_site: {line}", file=sys.stderr)
    print(f"check_site: {'FAILED, ' + str(len(problems)) + ' problems' if problems else 'passed'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
