"""Static throughput prediction of the generator's code paths with llvm-mca, for CPUs not at hand.

    python benchmarks/predict_philox_mca.py            # needs g++ and llvm-mca (Debian: llvm-15)

A prediction, not a measurement: it exists because no AVX-512 machine was available when the
AVX-512 path was written. The script compiles csrc/include/fastrep/philox.hpp's paths to
assembly (g++ -O3, float32 output), takes the innermost loops of each path's tile (the Philox
pass and the Box-Muller pass of the SIMD paths, the vectorized cell loop of the portable
``normals_tile`` compiled for the instruction set) and asks llvm-mca how many cycles an iteration
takes on a CPU model when the loop runs many times. It prints cycles per cell (four normals).

Calibrate before trusting it: the znver3 rows can be compared with
``python benchmarks/compare_stream.py``'s one-thread rows on an AMD Zen 3 machine
(benchmarks/RESULTS_STREAM.md records both).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TU = """
#include <fastrep/philox.hpp>
template void fastrep::philox::avx2x2::gaussian_block<float>(std::uint64_t, std::uint32_t, std::uint64_t,
                                                             fastrep::index_t, fastrep::index_t, float*);
template void fastrep::philox::avx512x2::gaussian_block<float>(std::uint64_t, std::uint32_t, std::uint64_t,
                                                               fastrep::index_t, fastrep::index_t, float*);
void tile(const std::uint64_t* c0, const std::uint64_t* c1, const std::uint64_t* c2, double* z0, double* z1,
          double* z2, double* z3) {
  fastrep::philox::normals_tile(c0, c1, c2, 5, 1, 2, 256, z0, z1, z2, z3);
}
"""

# (label, instruction-set flags for the portable loop, CPU models, cells per SIMD-path iteration)
TARGETS = [("avx2", ["-mavx2"], ["znver3", "haswell"], 8),
           ("avx512", ["-mavx512f"], ["skylake-avx512", "icelake-server"], 16)]


def function_body(asm: list[str], prefix: str) -> list[str]:
    start = next(k for k, line in enumerate(asm) if line.startswith(prefix) and line.endswith(":"))
    body = []
    for line in asm[start + 1:]:
        s = line.strip()
        if s.startswith(".cfi_endproc"):
            break
        if s.startswith(".") and not re.match(r"^\.L\w+:$", s):
            continue
        body.append(line)
    return body


def inner_loops(body: list[str]) -> list[list[str]]:
    """Loops (a backward jump to a label) that contain no other loop, as instruction lists."""
    labels = {line.strip()[:-1]: k for k, line in enumerate(body) if re.match(r"^\.L\w+:$", line.strip())}
    spans = []
    for k, line in enumerate(body):
        m = re.match(r"\s*j\w+\s+(\.L\w+)", line)
        if m and m.group(1) in labels and labels[m.group(1)] < k:
            spans.append((labels[m.group(1)], k))
    inner = [(a, b) for a, b in spans if not any(a < c and d <= b and (c, d) != (a, b) for c, d in spans)]
    return [[x for x in body[a + 1:b + 1] if not re.match(r"^\.L\w+:$", x.strip())] for a, b in inner]


def mca_cycles(loop: list[str], cpu: str, mca: str, tmp: Path, iterations: int = 300) -> float:
    f = tmp / "loop.s"
    f.write_text("\n".join(loop) + "\n")
    out = subprocess.run([mca, f"-mcpu={cpu}", f"-iterations={iterations}", str(f)], capture_output=True,
                         text=True, check=True).stdout
    return int(re.search(r"Total Cycles:\s+(\d+)", out).group(1)) / iterations


def main() -> int:
    mca = next((shutil.which(n) for n in ("llvm-mca", "llvm-mca-15", "llvm-mca-14") if shutil.which(n)), None)
    cxx = shutil.which("g++")
    if mca is None or cxx is None:
        print("needs g++ and llvm-mca on PATH (Debian: apt-get install llvm-15)", file=sys.stderr)
        return 2
    print("# Predicted cycles per cell (4 normals) of the generator's loops, llvm-mca "
          + next(line.strip() for line in subprocess.run([mca, "--version"], capture_output=True, text=True)
               .stdout.splitlines() if "LLVM version" in line))
    print("\n| path | CPU model | Philox pass | Box-Muller pass | total / cell | portable loop / cell | "
          "SIMD vs portable |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "k.cpp").write_text(TU)
        for label, flags, cpus, cells in TARGETS:
            simd_s, port_s = tmp / f"{label}.s", tmp / f"{label}_portable.s"
            inc = f"-I{ROOT / 'csrc' / 'include'}"
            base = [cxx, "-std=c++17", "-O3", "-fno-math-errno", "-S", inc, str(tmp / "k.cpp")]
            subprocess.run([*base, "-o", str(simd_s)], check=True)
            subprocess.run([*base, "-DFASTREP_NO_MULTIVERSION", *flags, "-o", str(port_s)], check=True)
            ns = "avx2x2" if label == "avx2" else "avx512x2"
            mangled = f"_ZN7fastrep6philox{len(ns)}{ns}14gaussian_blockIfEEvmjmllPT_"
            loops = inner_loops(function_body(simd_s.read_text().splitlines(), mangled))
            text = ["\n".join(lp) for lp in loops]
            philox = max((lp for lp, t in zip(loops, text) if "vpmuludq" in t and "vdivpd" not in t), key=len)
            bm = max((lp for lp, t in zip(loops, text) if "vdivpd" in t and "vpmuludq" not in t), key=len)
            port_loops = inner_loops(function_body(port_s.read_text().splitlines(),
                                                   "_ZN7fastrep6philox12normals_tile"))
            port = max((lp for lp in port_loops if "vdivpd" in "\n".join(lp)), key=len)
            # cells per portable iteration: its counter loads advance by 8 bytes a cell
            strides = [int(m) for m in re.findall(r"addq\s+\$(\d+),", "\n".join(port))]
            strides = [x for x in strides if x in (32, 64, 128)]  # not the key increments
            port_cells = max(strides) // 8 if strides else 1
            for cpu in cpus:
                p, b = mca_cycles(philox, cpu, mca, tmp), mca_cycles(bm, cpu, mca, tmp)
                q = mca_cycles(port, cpu, mca, tmp) / port_cells
                total = (p + b) / cells
                print(f"| {label} | {cpu} | {p:.0f} per {cells} cells | {b:.0f} per {cells} cells | {total:.1f} | "
                      f"{q:.1f} | {q / total:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
