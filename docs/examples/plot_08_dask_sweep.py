"""
A sweep on a Dask cluster
=========================

``experiments.run(spec, executor="dask", scheduler=...)`` sends each cell to a Dask
cluster (an address such as ``"tcp://HOST:8786"`` or a ``distributed.Client``); only the
driver writes the store. Every random draw of a cell derives from its seed and each cell
runs with a fixed thread count, so local processes and Dask store the same numbers. Here a
local cluster of two in-process workers and a tiny grid (seconds); the table compares the
errors with the same sweep run by local processes.

For a real cluster: ``dask scheduler`` on one machine, ``dask worker tcp://HOST:8786
--nthreads 1`` on each (in an environment with ``fastrep[dask]``), then
``fastrep sweep large_d_dask --scheduler tcp://HOST:8786``.
"""

import tempfile
from pathlib import Path

from distributed import Client, LocalCluster

from fastrep import experiments

spec = {
    "name": "gallery-dask",
    "epsilon": 0.3,
    "seeds": 2,
    "target": {"preset": "separation"},
    "grid": {"d": [8], "n": [128, 256, 512]},
    "evaluation": {"n_val": 500, "n_test": 1000},
    "methods": {"onestep": {"width": 100}},
}

if __name__ == "__main__":
    folder = Path(tempfile.mkdtemp())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        experiments.run(spec, store=folder / "dask.sqlite", executor="dask", scheduler=client,
                        progress=False)
    experiments.run(spec, store=folder / "local.sqlite", progress=False)
    on_dask = experiments.load(folder / "dask.sqlite").sort_values(["n", "seed"])
    local = experiments.load(folder / "local.sqlite").sort_values(["n", "seed"])
    table = on_dask[["n", "seed", "excess_error"]].reset_index(drop=True)
    table["local processes"] = local["excess_error"].to_numpy()
    table["same"] = table["excess_error"] == table["local processes"]
    print(table.rename(columns={"excess_error": "Dask"}).to_string(index=False))
