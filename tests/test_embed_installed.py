"""The wheel, installed into a fresh virtual environment, carries what a user needs beyond Python:
the C++ headers (``fastrep.get_include()``), the example sweeps (``fastrep examples``) and the
embedding example, which compiles against the *installed* headers and reproduces
``GaussianStream`` rows bit for bit and an NTK Gram block to rounding.

Offline: the wheel is built with ``--no-build-isolation --no-deps`` from a copy of the source
tree (pybind11 and setuptools come from the dev extra), and the fresh environment sees this
environment's dependencies (numpy, scipy, ...) through a ``.pth`` path entry, which does not run
the ``.pth`` hooks there, so the editable fastrep of this checkout stays invisible to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADERS = sorted((ROOT / "csrc" / "include" / "fastrep").glob("*.hpp"))
EXAMPLES = sorted((ROOT / "fastrep" / "experiments" / "examples").glob("*.toml"))

# Building the extension at -O3 alone takes most of a minute on 2 cores.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths and gcc/clang flags below"),
]


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _run(cmd, **kwargs):
    res = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    shown = " ".join(map(str, cmd))
    assert res.returncode == 0, f"{shown} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _copy_source(dest: Path) -> Path:
    """What the sdist would hold, without build outputs of this checkout (an in-place _ext*.so)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.egg-info", "build")
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("csrc", "fastrep"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, bin folder, site-packages) of a fresh venv with the freshly built wheel installed."""
    pytest.importorskip("pybind11", reason="building the wheel offline needs pybind11 (the dev extra)")
    if _compiler() is None:
        pytest.skip("no C++ compiler on PATH")
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_source(tmp / "src")
    wheels = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index",
          "-q", "-w", str(wheels), str(src)], cwd=tmp)
    (wheel,) = wheels.glob("fastrep-*.whl")

    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                .stdout.strip())
    # this environment's dependencies, as a plain path entry (its .pth hooks, among them the
    # editable install of this checkout, are not run from there)
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)], cwd=tmp)
    return python, env_dir / "bin", site


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "2"
    return env


def _py(python, code: str, cwd) -> str:
    return _run([str(python), "-c", textwrap.dedent(code)], cwd=cwd, env=_clean_env()).stdout


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    python, _, site = installed
    out = _py(python, "import fastrep; print(fastrep.__file__); print(fastrep.get_include())", tmp_path)
    where, include = out.split()
    assert Path(where).resolve() == (site / "fastrep" / "__init__.py").resolve()
    assert Path(include).resolve() == (site / "fastrep" / "include").resolve()


def test_headers_are_installed_byte_for_byte(installed):
    _, _, site = installed
    inc = site / "fastrep" / "include" / "fastrep"
    assert sorted(p.name for p in inc.glob("*.hpp")) == [h.name for h in HEADERS]
    for h in HEADERS:
        assert (inc / h.name).read_bytes() == h.read_bytes(), h.name


def test_examples_ship_and_the_demo_report_does_not(installed, tmp_path):
    python, bindir, site = installed
    pkg = site / "fastrep" / "experiments" / "examples"
    assert sorted(p.name for p in pkg.glob("*.toml")) == [p.name for p in EXAMPLES]
    assert (pkg / "embed" / "embed.cpp").is_file()
    assert not (pkg / "demo").exists(), "the demo report and figures are kept out of the wheel"
    listing = _run([str(bindir / "fastrep"), "examples"], cwd=tmp_path, env=_clean_env()).stdout.splitlines()
    assert [line.split()[0] for line in listing] == [p.stem for p in EXAMPLES]
    shown = _run([str(bindir / "fastrep"), "examples", "separation"], cwd=tmp_path, env=_clean_env()).stdout
    assert shown == (ROOT / "fastrep" / "experiments" / "examples" / "separation.toml").read_text()
    code = "from fastrep import experiments; print(experiments.load_spec('separation').name)"
    name = _py(python, code, tmp_path)
    assert name.strip() == "separation-example"


def _parse(lines: list[str], name: str):
    head = lines[0].split()
    assert head[0] == name, lines[0]
    rows, cols = int(head[1]), int(head[2])
    block = np.array([[float.fromhex(v) for v in line.split()] for line in lines[1 : 1 + rows]])
    assert block.shape == (rows, cols)
    return block, lines[1 + rows :]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_embedding_example_against_the_installed_headers(installed, tmp_path, dtype):
    python, _, site = installed
    cxx = _compiler()
    source = site / "fastrep" / "experiments" / "examples" / "embed" / "embed.cpp"
    include = _py(python, "import fastrep; print(fastrep.get_include())", tmp_path).strip()
    exe = tmp_path / "embed"
    flags = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror"]
    omp = subprocess.run([cxx, "-fopenmp", "-x", "c++", "-", "-o", str(tmp_path / "probe")],
                         input="#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n",
                         capture_output=True, text=True).returncode == 0
    _run([cxx, *flags, *(["-fopenmp"] if omp else []), f"-I{include}", str(source), "-o", str(exe)])

    seed, split, n, d, beta = 2**40 + 17, 1, 9, 7, 0.5  # a seed above 2^32: both Philox key words
    out = _run([str(exe), str(seed), str(split), str(n), str(d), str(beta), dtype], env=_clean_env())
    X_cpp, rest = _parse(out.stdout.splitlines(), "X")
    K_cpp, rest = _parse(rest, "K")
    assert not rest

    got = _py(python, f"""
        import numpy as np, fastrep
        t = fastrep.MultiIndexTarget.separation(d={d}, seed=0)
        X, _ = fastrep.GaussianStream(t, {seed}, split="val", dtype=np.{dtype}).take({n})
        K = fastrep.ntk_kernel(X[:{n // 2}], X[{n // 2}:], beta={beta})
        for A in (X, K):
            print(" ".join(float(v).hex() for v in A.ravel()))
        """, tmp_path).splitlines()
    X_py = np.array([float.fromhex(v) for v in got[0].split()]).reshape(n, d)
    K_py = np.array([float.fromhex(v) for v in got[1].split()]).reshape(n // 2, n - n // 2)
    np.testing.assert_array_equal(X_cpp, X_py)  # every bit: hex literals are exact
    rtol = 1e-13 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(K_cpp, K_py, rtol=rtol, atol=0)
