"""
The separation in n*(d)
=======================

n*(d) is the smallest n whose median excess error is at most epsilon. Algorithm 1 needs
about d² samples, NTK ridge about d^p (p = 3 for this target): on a log-log plot of n*
against d, slopes about 2 and 3.

This sweep is tiny (d = 8, 12, 16; 2 seeds; under a minute on 2 cores), so its slopes are
rough, and at d <= 16 the kernel learns the degree-3 part early (a local slope near 1.6).
The paper-scale result: ``fastrep demo`` (d = 12..24, 24 seeds, < 10 min on 2 cores)
measures 1.52 and 2.61, and ``fastrep demo --large`` (the network to d = 512) 2.16 for the
network and a predicted 2.98 for NTK ridge over d = 128..1024.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from fastrep import experiments

spec = {
    "name": "gallery-separation",
    "epsilon": 0.25,
    "seeds": 2,
    "target": {"preset": "separation"},
    "grid": {"d": [8, 12, 16], "n": {"start": 64, "stop": 2048, "factor": 2}},
    "evaluation": {"n_val": 1000, "n_test": 2000},
    "methods": {
        "onestep": {"width": 300},
        "ntk": {"ridge": 1e-8, "n": {"start": 250, "stop": 4000, "factor": 2}},
    },
}

if __name__ == "__main__":
    store = Path(tempfile.mkdtemp()) / "sep.sqlite"
    experiments.run(spec, store=store, progress=False)
    df = experiments.load(store)
    n_star = experiments.n_star(df, epsilon=0.25)
    print(experiments.fit_slopes(df, epsilon=0.25, n_boot=200))

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, rows in n_star.groupby("label"):
        ax.loglog(rows["d"], rows["n_star"], "o-", label=label)
    d = n_star["d"].drop_duplicates().sort_values().to_numpy(float)
    ax.loglog(d, 4 * d ** 2, "k:", label="∝ d²")
    ax.loglog(d, 2 * d ** 3, "k--", label="∝ d³")
    ax.set_xticks(d, [f"{v:.0f}" for v in d], minor=False)
    ax.set_xticks([], minor=True)
    ax.set_xlabel("d")
    ax.set_ylabel("n* (median error ≤ 0.25)")
    ax.legend()
    fig.tight_layout()
