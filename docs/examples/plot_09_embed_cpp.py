"""
The C++ core, seen from Python
==============================

fastrep's compiled arithmetic is header-only C++17 with no Python in it, and the headers
install with the package: :func:`fastrep.get_include` returns their folder, as
``numpy.get_include()`` does. A shipped C++ example (``embed.cpp``) generates fastrep's
data stream and an NTK block from those headers alone; this page compiles it (when a C++
compiler is on the PATH) and checks its rows against :class:`fastrep.GaussianStream`, bit
for bit. The table lists the headers.

The stream's bits do not depend on the size: any N and d give the same rows as Python.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import fastrep
from fastrep.experiments import examples

include = Path(fastrep.get_include())
print("headers in", include)
headers = pd.DataFrame({"header": sorted(p.name for p in (include / "fastrep").glob("*.hpp"))})
headers["lines"] = [len((include / "fastrep" / h).read_text().splitlines()) for h in headers["header"]]

# %%
# Build ``embed.cpp`` against the headers and compare its first rows with Python's:
# ``./embed SEED SPLIT N D BETA DTYPE`` prints rows of ``GaussianStream(target, SEED)`` as
# hexadecimal floats.

compiler = shutil.which("c++") or shutil.which("g++")
if compiler:
    exe = Path(tempfile.mkdtemp()) / "embed"
    subprocess.run([compiler, "-std=c++17", "-O1", f"-I{include}", str(examples.embed_source()),
                    "-o", str(exe)], check=True)
    out = subprocess.run([str(exe), "7", "0", "4", "5", "1.0", "float64"], check=True,
                         capture_output=True, text=True).stdout
    print("\n".join(out.splitlines()[:6]))
    target = fastrep.MultiIndexTarget.separation(d=5, seed=0)
    X, _ = fastrep.GaussianStream(target, 7, dtype=np.float64).take(4)
    hex_rows = [" ".join(float(v).hex() for v in row) for row in X]
    print("rows identical to Python's:", all(row in out for row in hex_rows))
else:
    print("no C++ compiler on the PATH: the build step is skipped")

headers
