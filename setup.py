"""Build the pybind11 extension ``fastrep._ext`` from ``csrc/`` and ship the C++ headers; metadata is in
pyproject.toml.

The headers are authored once, in ``csrc/include/fastrep/*.hpp``; the build copies them into the
package as ``fastrep/include/fastrep/`` so that an installed fastrep can be embedded in a C++
simulator (``c++ -I$(python -c "import fastrep; print(fastrep.get_include())")``) and NVRTC
sources can include them.

Flags are portable by default. ``FASTREP_NATIVE=1`` adds ``-march=native`` for a build that
will only ever run on this CPU. OpenMP is used when the compiler supports it.
"""

import os
import sys
import tempfile
import tomllib
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent.resolve()
HEADERS = sorted((HERE / "csrc" / "include" / "fastrep").glob("*.hpp"))
VERSION = tomllib.loads((HERE / "pyproject.toml").read_text())["project"]["version"]


def _compiler_accepts(compiler, flags):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.cpp"
        src.write_text("#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
        try:
            objs = compiler.compile([str(src)], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, str(Path(tmp) / "probe"), extra_postargs=flags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        omp = ["/openmp"] if self.compiler.compiler_type == "msvc" else ["-fopenmp"]
        use_omp = os.environ.get("FASTREP_NO_OPENMP") != "1" and _compiler_accepts(self.compiler, omp)
        if not use_omp:
            print("fastrep: building without OpenMP (compiler does not support it)", file=sys.stderr)
        for ext in self.extensions:
            if self.compiler.compiler_type != "msvc":
                ext.extra_compile_args += ["-O3", "-fno-math-errno"]
                if os.environ.get("FASTREP_NATIVE") == "1":
                    ext.extra_compile_args.append("-march=native")
            if use_omp:
                ext.extra_compile_args += omp
                ext.extra_link_args += omp
        super().build_extensions()


class BuildPy(build_py):
    """The Python package, plus csrc/include/fastrep/*.hpp copied to fastrep/include/fastrep/.

    An editable install needs no copy: ``fastrep.get_include()`` finds csrc/include there.
    """

    def _header_targets(self):
        dest = Path(self.build_lib) / "fastrep" / "include" / "fastrep"
        return [(h, dest / h.name) for h in HEADERS]

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for src, dst in self._header_targets():
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(dst) for _, dst in self._header_targets()]


ext = Pybind11Extension(
    "fastrep._ext",
    sorted(str(p.relative_to(HERE)) for p in (HERE / "csrc").glob("*.cpp")),
    include_dirs=["csrc/include"],
    depends=[str(h.relative_to(HERE)) for h in HEADERS],  # rebuild on a header change; in the sdist
    define_macros=[("FASTREP_VERSION", f'"{VERSION}"')],
    cxx_std=17,
)

setup(ext_modules=[ext], cmdclass={"build_ext": BuildExt, "build_py": BuildPy})
