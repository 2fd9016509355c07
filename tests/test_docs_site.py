"""docs/check_site.py, the built site's check, finds what it is meant to find.

These run without Sphinx or a browser: the link and name checks on a small hand-made site.
The docs phase of .ci/run runs the whole check on the real build.
"""

import importlib.util
from pathlib import Path

import pytest

import fastrep
from fastrep import experiments

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def check_site():
    spec = importlib.util.spec_from_file_location("check_site", ROOT / "docs" / "check_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _site(tmp_path, pages):
    for name, html in pages.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html)
    return tmp_path


def test_links_and_anchors_that_do_not_resolve_are_reported(check_site, tmp_path):
    site = _site(tmp_path, {
        "index.html": '<a href="guide/a.html#sec">ok</a> <a href="guide/a.html#nope">bad anchor</a>'
                      '<a href="missing.html">bad file</a> <a href="https://example.org/x">external</a>'
                      '<a href="#top">self</a><p id="top"></p><img src="_images/fig.png">',
        "guide/a.html": '<h1 id="sec">A</h1><a href="../index.html">up</a><img src="../_images/gone.png">',
        "_images/fig.png": "png",
        "_static/macros.html": '<a href="{{ pathto(x) }}">template</a>',  # theme fragments: skipped
    })
    problems = check_site.check_links(site)
    assert len(problems) == 3, problems
    assert any("broken anchor" in p and "#nope" in p for p in problems)
    assert any("broken link" in p and "missing.html" in p for p in problems)
    assert any("gone.png" in p for p in problems)


def test_the_public_names_are_the_namespaces_lists(check_site):
    names = set(check_site.public_names())
    assert {f"fastrep.{n}" for n in fastrep.__all__} <= names
    assert {f"fastrep.experiments.{n}" for n in experiments.__all__} <= names
    for module in ("metrics", "theory", "diagnostics", "ridge"):
        mod = getattr(fastrep, module)
        assert {f"fastrep.{module}.{n}" for n in mod.__all__} <= names


def test_a_name_missing_from_the_reference_is_reported(check_site, tmp_path):
    ids = "".join(f'<dt id="{n}"></dt>' for n in check_site.public_names() if n != "fastrep.fit_transfer")
    submodules = ("fastrep.metrics", "fastrep.theory", "fastrep.diagnostics", "fastrep.experiments.plan")
    modules = "".join(f'<div id="module-{m}"></div>' for m in submodules)
    site = _site(tmp_path, {"api/index.html": ids + modules})
    assert check_site.check_api(site) == [
        "public name fastrep.fit_transfer is not in the API reference (no id 'fastrep.fit_transfer')"]
