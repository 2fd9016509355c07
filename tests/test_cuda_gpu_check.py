"""benchmarks/gpu_check.py's CPU side, with no CuPy and no device: the argument parsing, the
FAIL-and-continue sections, the table it writes, that it writes nothing without a device, and a dry
run of its build and kernel sections on the CPU-compiled CUDA kernels (tests/test_cuda_harness.py)
standing in for the device, so the checks themselves are exercised before a GPU ever runs them.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from benchmarks import gpu_check
from fastrep._kernels import _cuda, _dense, _gram
from tests.test_cuda_harness import CXX, harness_kernels, harness_library


def test_cuda_gpu_check_arguments():
    args = gpu_check.parse_args([])
    assert args.out == gpu_check.DEFAULT_OUT and args.out.name == "RESULTS_GPU.md"
    assert not args.quick and args.sections == list(gpu_check.SECTIONS)
    args = gpu_check.parse_args(["--quick", "--only", "kernels, ntk", "--out", "x.md"])
    assert args.quick and args.sections == ["kernels", "ntk"] and str(args.out) == "x.md"
    assert "tests" not in gpu_check.parse_args(["--skip-tests"]).sections
    for bad in (["--only", "kernels,nope"], ["--only", ","]):
        with pytest.raises(SystemExit):
            gpu_check.parse_args(bad)


def test_cuda_gpu_check_sections_fail_and_continue(tmp_path):
    ran = []

    def broken(args, report):
        ran.append("broken")
        raise RuntimeError("no | such\ndevice")

    def fine(args, report):
        ran.append("fine")
        report.check("fine", "an error", 1e-9, 1e-6)
        report.same("fine", "two arrays", np.arange(3.0), np.arange(3.0))

    report = gpu_check.Report()
    gpu_check.run_sections([("broken", broken), ("fine", fine)], gpu_check.parse_args([]), report)
    assert ran == ["broken", "fine"]
    first = report.rows[0]
    assert first[0] == "broken" and first[4] == "FAIL" and "RuntimeError" in first[2]
    assert [r[4] for r in report.rows[1:]] == ["ok", "ok"]
    assert report.failed()
    text = gpu_check.report_text(["card: test card"], report)
    lines = text.splitlines()
    assert lines[0] == "# fastrep GPU check" and "card: test card" in lines
    table = [ln for ln in lines if ln.startswith("|")]
    assert len(table) == 2 + len(report.rows)  # header, rule, one line per row
    # the '|' and the newline in the error message do not break the table
    assert all(ln.count("|") == len(gpu_check.HEADERS) + 1 for ln in table)
    ok = gpu_check.Report()
    ok.same("s", "different", np.zeros(3), np.ones(3))
    assert ok.failed() and "3 of 3 differ" in ok.rows[0][2]


def test_cuda_gpu_check_without_a_device_writes_nothing(tmp_path, monkeypatch, capsys):
    import fastrep

    if fastrep.backends()["cupy"] == "available":
        pytest.skip("a CUDA device is available here")
    out = tmp_path / "RESULTS_GPU.md"
    assert gpu_check.main(["--out", str(out)]) == 2
    assert not out.exists()
    assert "not available" in capsys.readouterr().err


@pytest.mark.skipif(CXX is None, reason="no C++ compiler (c++, g++, clang++ or $CXX) on PATH")
def test_cuda_gpu_check_kernel_sections_on_the_cpu_harness(monkeypatch):
    """The build and kernels sections, run with NumPy for CuPy and the CPU-compiled CUDA kernels
    for the device: every check they make passes, bit-identity with the C++ core included."""
    kernels = harness_kernels(harness_library())
    fake_cp = types.ModuleType("cupy")
    for name in ("asarray", "empty", "tril"):
        setattr(fake_cp, name, getattr(np, name))
    fake_cp.asnumpy = np.asarray
    drv = _dense.Driver(np, kernels.mask_scale, kernels.relu_bias)
    gram = _gram.GramDriver(np, kernels.kernel_from_inner)
    fake_gk = types.ModuleType("fastrep._kernels.cupy")
    fake_gk._kernels = kernels
    fake_gk._raw = lambda fn, ct: types.SimpleNamespace(compile=lambda: _cuda.source(_cuda.KERNELS[fn], ct))
    fake_gk.hermite_features, fake_gk.gaussian_block = kernels.hermite_features, kernels.gaussian_block
    for name in ("onestep_gradient", "relu_features", "feature_moments"):
        setattr(fake_gk, name, getattr(drv, name))
    for name in ("kernel_gram", "kernel_matvec", "kernel_normal_matvec"):
        setattr(fake_gk, name, getattr(gram, name))
    import fastrep._kernels

    monkeypatch.setitem(sys.modules, "cupy", fake_cp)
    monkeypatch.setitem(sys.modules, "fastrep._kernels.cupy", fake_gk)
    monkeypatch.setattr(fastrep._kernels, "cupy", fake_gk, raising=False)
    report = gpu_check.Report()
    args = gpu_check.parse_args(["--quick"])
    gpu_check.run_sections([("build", gpu_check.section_build), ("kernels", gpu_check.section_kernels)], args,
                           report)
    assert report.rows and not report.failed(), [r for r in report.rows if r[4] not in ("", "ok")]
    checked = " ".join(r[1] for r in report.rows)
    for op in ("hermite_features", "gaussian_block", "onestep_gradient", "relu_features", "feature_moments",
               "mask_scale", "relu_bias", "kernel_gram", "kernel_matvec", "kernel_normal_matvec",
               "kernel_from_inner"):
        assert op in checked, op
    assert sum("vs cpp" in r[1] and r[3] == "bit for bit" for r in report.rows) >= 10
