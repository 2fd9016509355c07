"""
A sweep from a TOML spec, and its report
========================================

A sweep is a grid of cells written in TOML (``fastrep examples separation`` prints one to
edit). :func:`fastrep.experiments.run` checks the whole spec before running, stores each
finished cell in one SQLite file (a rerun skips finished cells), and
:func:`fastrep.experiments.write_report` writes ``report.md`` and its figures from the store
alone. Shown: the table of n* from the store, and the start of the report.

Here a tiny grid (d = 8, 12; under a minute). ``fastrep sweep separation`` runs the packaged
example (d = 8..16, five methods, about 4 minutes on 2 cores), ``fastrep demo`` the paper's
separation study.
"""

import tempfile
from pathlib import Path

from fastrep import experiments

SPEC = """
name = "gallery-toml"
epsilon = 0.3
seeds = 2

[target]
preset = "separation"

[grid]
d = [8, 12]
n = {start = 64, stop = 1024, factor = 2}

[evaluation]
n_val = 1000
n_test = 2000

[methods.onestep]
width = 200

[methods.oracle]
n = {start = 16, stop = 256, factor = 2}
"""

if __name__ == "__main__":
    folder = Path(tempfile.mkdtemp())
    (folder / "spec.toml").write_text(SPEC)
    spec = experiments.load_spec(folder / "spec.toml")
    print(len(spec.cells()), "cells")
    experiments.run(spec, store=folder / "runs.sqlite", progress=False)
    report = experiments.write_report(folder / "runs.sqlite", folder / "report")
    print("\n".join(report.read_text().splitlines()[:12]))
    df = experiments.load(folder / "runs.sqlite")
    print(experiments.n_star(df, epsilon=0.3).to_string(index=False))
