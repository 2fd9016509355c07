"""The C++ core embeds without Python: compile tests/cpp/*.cpp with the system compiler and run it.

The program (tests/cpp/test_hermite_embed.cpp) includes only ``csrc/include/fastrep/*.hpp``
and checks Hermite features against independently computed values; see its header comment.
It is built with and without OpenMP, and once with ``FASTREP_NO_SIMD`` (the portable code
alone), with warnings as errors so that the headers stay clean for other people's builds, and
once with ``FASTREP_AVX512_ON_SIMDE`` (the AVX-512 path on SIMDe's portable AVX-512, any CPU).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import simde_include_flags

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "cpp" / "test_hermite_embed.cpp"
INCLUDE = ROOT / "csrc" / "include"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CXX = _compiler()
pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (c++, g++, clang++ or $CXX) on PATH")


def _cpu_has(flag: str) -> bool:
    try:
        return any(flag in line.split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("flags"))
    except OSError:
        return False


def _accepts_openmp(tmp_path: Path) -> bool:
    probe = tmp_path / "omp_probe.cpp"
    probe.write_text("#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
    res = subprocess.run([CXX, "-fopenmp", str(probe), "-o", str(tmp_path / "omp_probe")],
                         capture_output=True, text=True)
    return res.returncode == 0


VARIANTS = {
    "serial": [],
    "openmp": ["-fopenmp"],
    "openmp-no-simd": ["-fopenmp", "-DFASTREP_NO_SIMD"],
    # the AVX-512 path's source on SIMDe's portable AVX-512, on any CPU (dispatch then runs it)
    "openmp-avx512-on-simde": ["-fopenmp", "-DFASTREP_AVX512_ON_SIMDE"],
}


@pytest.mark.skipif(sys.platform == "win32", reason="the flags below are for gcc/clang")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_embedded_hermite_program(variant, tmp_path):
    flags = VARIANTS[variant]
    if "-fopenmp" in flags and not _accepts_openmp(tmp_path):
        pytest.skip(f"{CXX} does not support -fopenmp")
    extra = simde_include_flags() if "-DFASTREP_AVX512_ON_SIMDE" in flags else []
    exe = tmp_path / "embed"
    # Only the fastrep headers are on the include path: no Python, no pybind11, no NumPy.
    cmd = [CXX, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", *flags, f"-I{INCLUDE}", *extra, str(SOURCE),
           "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, f"compiling failed: {' '.join(cmd)}\n{built.stderr}"
    # Two threads, so the OpenMP builds split rows between threads even on a 1-core runner.
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    ran = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=120)
    assert ran.returncode == 0, f"embedded checks failed:\n{ran.stdout}\n{ran.stderr}"
    assert " 0 failures" in ran.stdout, ran.stdout
    if "no-simd" in variant:
        assert "float p=4 runs generic" in ran.stdout, ran.stdout
    elif "simde" in variant:
        assert "float p=4 runs avx512" in ran.stdout, ran.stdout
    elif _cpu_has("avx2"):  # a SIMD path (AVX2, or AVX-512 where the CPU has it) was chosen and checked
        assert "float p=4 runs avx" in ran.stdout, ran.stdout
    if "openmp" in variant:
        assert "threads 2" in ran.stdout, ran.stdout


NTK_SOURCE = ROOT / "tests" / "cpp" / "test_ntk_embed.cpp"


@pytest.mark.skipif(sys.platform == "win32", reason="the flags below are for gcc/clang")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_embedded_ntk_program(variant, tmp_path):
    """tests/cpp/test_ntk_embed.cpp: the NTK/NNGP entry pass's AVX2 and AVX-512 paths (forced in
    turn; on SIMDe the AVX-512 one on any CPU) give the portable loop's values bit for bit."""
    flags = VARIANTS[variant]
    if "-fopenmp" in flags and not _accepts_openmp(tmp_path):
        pytest.skip(f"{CXX} does not support -fopenmp")
    extra = simde_include_flags() if "-DFASTREP_AVX512_ON_SIMDE" in flags else []
    exe = tmp_path / "ntk"
    cmd = [CXX, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", *flags, f"-I{INCLUDE}", *extra,
           str(NTK_SOURCE), "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, f"compiling failed: {' '.join(cmd)}\n{built.stderr}"
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    ran = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=120)
    assert ran.returncode == 0 and " 0 failures" in ran.stdout, ran.stdout + ran.stderr
    if "no-simd" in variant:
        assert "path 0 runs by default" in ran.stdout, ran.stdout
    elif "simde" in variant:
        assert "path 2 available" in ran.stdout, ran.stdout
    elif _cpu_has("avx2"):
        assert "path 0 runs" not in ran.stdout, ran.stdout
    if "openmp" in variant:
        assert "threads 2" in ran.stdout, ran.stdout
