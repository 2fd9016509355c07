"""Build only the pybind11 extension ``fastrep._ext`` from ``csrc/``; metadata is in pyproject.toml.

Flags are portable by default. ``FASTREP_NATIVE=1`` adds ``-march=native`` for a build
that will only ever run on this CPU. OpenMP is used when the compiler supports it.
"""

import os
import sys
import tempfile
import tomllib
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

HERE = Path(__file__).parent.resolve()
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


ext = Pybind11Extension(
    "fastrep._ext",
    sorted(str(p.relative_to(HERE)) for p in (HERE / "csrc").glob("*.cpp")),
    include_dirs=["csrc/include"],
    define_macros=[("FASTREP_VERSION", f'"{VERSION}"')],
    cxx_std=17,
)

setup(ext_modules=[ext], cmdclass={"build_ext": BuildExt})
