"""Every CUDA source of the CuPy backend compiles with NVRTC, for compute_80 and compute_90, in
float and double, exactly as cupy.py compiles it (fastrep._kernels._cuda.source and options, then
the option CuPy's RawKernel appends).

NVRTC needs no GPU and no driver: ``pip install -e ".[cuda-check]"`` (CuPy's NVRTC binding and
the NVRTC library) is enough, and .ci/run's second phase does that. Without those packages the
tests skip, naming what is missing, unless FASTREP_REQUIRE_NVRTC=1 (.ci/run) makes that a
failure. Each (file, dtype, arch) is compiled once per session.
"""

from __future__ import annotations

import functools
import os
import re

import numpy as np
import pytest

from fastrep._kernels import _cuda

ARCHS = ("compute_80", "compute_90")
DTYPES = ("float", "double")


def _nvrtc_or_reason():
    try:
        from cupy_backends.cuda.libs import nvrtc
    except Exception as exc:  # ImportError, or CuPy failing to load its own pieces
        return None, (f"CuPy's NVRTC binding is not installed ({type(exc).__name__}: {exc}); "
                      "pip install -e '.[cuda-check]'")
    try:
        nvrtc.getVersion()
    except Exception as exc:
        return None, (f"the NVRTC library is not loadable ({type(exc).__name__}: {exc}); "
                      "pip install nvidia-cuda-nvrtc-cu12")
    return nvrtc, ""


NVRTC, REASON = _nvrtc_or_reason()
# .ci/run's second phase sets this: there a missing NVRTC is a failure, not a skip
REQUIRED = os.environ.get("FASTREP_REQUIRE_NVRTC") == "1"
needs_nvrtc = pytest.mark.skipif(NVRTC is None and not REQUIRED, reason=REASON)


def _compile(src: str, name: str, options) -> tuple[bool, str, str]:
    """(ok, log, ptx) of one NVRTC compilation."""
    if NVRTC is None:
        pytest.fail(f"FASTREP_REQUIRE_NVRTC=1 but {REASON}")
    prog = NVRTC.createProgram(src, name, [], [])
    try:
        try:
            NVRTC.compileProgram(prog, list(options))
            ok = True
        except NVRTC.NVRTCError:
            ok = False
        log = NVRTC.getProgramLog(prog)
        ptx = NVRTC.getPTX(prog) if ok else b""
    finally:
        NVRTC.destroyProgram(prog)
    return ok, _text(log), _text(ptx)


def _text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else str(b)


@functools.lru_cache(maxsize=None)
def compiled(file: str, dtype_name: str, arch: str) -> tuple[bool, str, str]:
    options = (*_cuda.options(), f"--gpu-architecture={arch}", *_cuda.CUPY_APPENDED_OPTIONS)
    return _compile(_cuda.source(file, dtype_name), file, options)


CASES = [(f, t, a) for f in _cuda.files() for t in DTYPES for a in ARCHS]


@needs_nvrtc
@pytest.mark.parametrize("file,dtype_name,arch", CASES)
def test_cuda_source_compiles(file, dtype_name, arch):
    ok, log, ptx = compiled(file, dtype_name, arch)
    assert ok, f"NVRTC failed on {file} (real_t = {dtype_name}, {arch}):\n{log}"
    # every kernel cupy.py launches from this file is an entry point of the PTX
    for kernel, f in _cuda.KERNELS.items():
        if f == file:
            assert re.search(rf"\.entry\s+{kernel}\s*\(", ptx), f"{kernel} is not a kernel of {file}"
    # --fmad=false took effect: no fused multiply-add anywhere (the stream's bits depend on it)
    assert not re.search(r"\bfma\.", ptx), f"{file}: PTX has fma instructions"
    # the real_t instantiation is the one asked for: every kernel stores real_t and nothing else
    want, other = ("st.global.f64", "st.global.f32")
    if dtype_name == "float":
        want, other = other, want
    assert want in ptx and other not in ptx, f"{file}: the stores are not real_t = {dtype_name}"


@needs_nvrtc
def test_cuda_nvrtc_reports_a_broken_source():
    """A type error in a kernel source fails the compile with its line: what CI relies on."""
    src = _cuda.source("onestep.cu", "float").replace("P[t] = fastrep::mask_scale_entry",
                                                      "P[t] = fastrep::no_such_function")
    assert "no_such_function" in src
    ok, log, _ = _compile(src, "onestep.cu", (*_cuda.options(), "--gpu-architecture=compute_90"))
    assert not ok
    assert "no_such_function" in log and "onestep.cu" in log, log


def test_cuda_sources_are_declared():
    """The .cu files on disk and the kernel table agree, and cupy.py's kernels are all in it."""
    on_disk = sorted(p.name for p in _cuda.SOURCE_DIR.glob("*.cu"))
    assert on_disk == _cuda.files()
    for kernel, file in _cuda.KERNELS.items():
        text = (_cuda.SOURCE_DIR / file).read_text()
        assert re.search(rf"FASTREP_GLOBAL\s+void\s+{kernel}\s*\(", text), kernel


def test_cuda_device_code_uses_no_libm_transcendentals():
    """The device-visible code calls no log/exp/sin/cos/acos...: those are libdevice's on a GPU and
    libm's on a CPU, and would break bit-identity (sqrt and division are IEEE on both)."""
    from pathlib import Path

    import fastrep

    include = Path(fastrep.get_include()) / "fastrep"
    texts = {p.name: p.read_text() for p in _cuda.SOURCE_DIR.glob("*.cu")}
    texts |= {p.name: p.read_text() for p in include.glob("scalar_*.hpp")}
    texts["hd.hpp"] = (include / "hd.hpp").read_text()
    names = "log|log2|log1p|exp|expm1|sin|cos|tan|sincos|sincospi|acos|asin|atan|pow|erf|lgamma|tgamma"
    banned = re.compile(rf"(?<![\w.])(?:std)?(?:::)?({names})f?\s*\(")  # log(, ::log(, std::logf(
    for name, text in texts.items():
        code = re.sub(r"//[^\n]*", "", text)
        hits = banned.findall(code)
        assert not hits, f"{name} calls {sorted(set(hits))}"


def test_cuda_ctype_and_blocks():
    assert _cuda.ctype(np.float32) == "float" and _cuda.ctype("float64") == "double"
    with pytest.raises(TypeError, match="dtype"):
        _cuda.ctype(np.int32)
    assert [_cuda.blocks(t) for t in (0, 1, 256, 257)] == [0, 1, 1, 2]
    with pytest.raises(ValueError, match="total"):
        _cuda.blocks(-1)
    with pytest.raises(ValueError, match="file"):
        _cuda.source("nope.cu", "float")
