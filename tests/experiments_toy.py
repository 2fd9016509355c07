"""A tiny, fast, deterministic method for testing the experiments machinery without learners.

Its "excess error" is (d**power / n) * exp(0.1 z) with z ~ N(0, 1) drawn from the cell's
seed, so n*(d) = d**power / epsilon up to seed noise: the slope of log n* against log d is
``power`` by construction, which lets the analysis be checked against a known answer.
"""

import os
import time
from pathlib import Path

import numpy as np

from fastrep.experiments.methods import METHODS, derive_seed, register_method


def toy_method(params):
    opts = params["options"]
    if opts.get("fail_d") == params["d"]:
        raise RuntimeError(f"toy failure at d={params['d']}")
    time.sleep(opts.get("sleep", 0.0))
    if opts.get("gate"):
        _gate(Path(opts["gate"]), int(opts.get("gate_after", 1)))
    rng = np.random.default_rng(derive_seed(params["seed"], "data"))
    A = rng.standard_normal((64, 64))
    checksum = float(np.linalg.norm(A @ A.T))  # exercises BLAS under the thread limits
    z = rng.standard_normal()
    err = params["d"] ** opts.get("power", 2.0) / params["n"] * float(np.exp(0.1 * z))
    return {
        "excess_error": err,
        "alignment": min(1.0, params["n"] / params["d"] ** 2 / 4),
        "timings": {"fit": 0.0},
        "backend": "toy",
        "extra": {"checksum": checksum},
    }


def _gate(folder: Path, k: int) -> None:
    """Let exactly ``k`` cells through (each claims a numbered slot file atomically); every other
    cell writes ``folder/blocked-<pid>`` and waits until ``folder/release`` appears. A test then
    catches a sweep mid-way by state, not by timing: the store holds the k cells, no more."""
    for i in range(k):
        try:
            os.close(os.open(folder / f"slot-{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return
        except FileExistsError:
            continue
    (folder / f"blocked-{os.getpid()}").touch()
    while not (folder / "release").exists():
        time.sleep(0.01)


def register():
    if "toy" not in METHODS:
        register_method("toy", "tests.experiments_toy:toy_method")
    if "toy_kernel" not in METHODS:
        register_method("toy_kernel", "tests.experiments_toy:toy_method", kernel=True)


def toy_spec(**over):
    spec = {
        "name": "toy",
        "epsilon": 0.5,
        "seeds": 3,
        "target": {"terms": [{"alpha": [2, 0], "coef": 1.0}, {"alpha": [1, 1], "coef": 0.5}]},
        "grid": {"d": [4, 8, 16], "n": {"start": 8, "stop": 4096, "factor": 2}},
        "methods": {"toy": {"power": 2.0}, "toy3": {"method": "toy_kernel", "power": 3.0}},
    }
    spec.update(over)
    return spec
