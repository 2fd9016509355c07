"""Executors: local processes, serial and a Dask LocalCluster store identical results, seed for seed."""

import json

import pytest

from fastrep.experiments import load, load_spec, run
from fastrep.experiments.methods import build_target, derive_seed
from fastrep.experiments.runner import ExecutorError

from .experiments_toy import register, toy_spec

register()

#: what a cell computed; wall time, memory, host and timestamps legitimately differ
SAME = [
    "cell_id",
    "sweep",
    "label",
    "method",
    "d",
    "n",
    "seed",
    "excess_error",
    "alignment",
    "backend",
    "threads",
]


def _mixed_spec():
    """The toy method plus small real learners (network, random features, oracle, transfer)."""
    spec = toy_spec(seeds=2, grid={"d": [4, 6], "n": [64, 128]})
    spec["target"] = {"preset": "separation"}
    spec["evaluation"] = {"n_val": 200, "n_test": 300}
    spec["methods"] = {
        "toy": {"power": 2.0},
        "onestep": {"width": 40},
        "random_features": {"width": 40},
        "oracle": {},
        "transfer": {
            "width": 40,
            "n": [32, 64],
            "source": {"target": {"preset": "random", "r": 2, "p": 2}, "n": 256},
        },
    }
    return load_spec(spec)


def _table(path):
    df = load(path)
    df = df.sort_values("cell_id", ignore_index=True)
    df["params"] = df["params"].map(repr)
    df["extra"] = df["extra"].map(repr)
    return df[SAME + ["params", "extra"]]


def _assert_same(a, b):
    assert len(a) == len(b) > 0
    for col in a.columns:
        # exact (NaN == NaN here): every draw comes from the cell's seed
        assert a[col].equals(b[col]), (col, a[col].tolist(), b[col].tolist())


@pytest.fixture(scope="module")
def processes_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("proc") / "s.sqlite"
    s = run(_mixed_spec(), store=path, executor="processes", workers=2, threads=1, progress=False)
    assert s.cells_failed == 0 and s.cells_run == s.cells_total
    return path


def test_processes_and_serial_agree(processes_store, tmp_path):
    path = tmp_path / "serial.sqlite"
    s = run(_mixed_spec(), store=path, executor="serial", threads=1, progress=False)
    assert s.cells_failed == 0
    _assert_same(_table(processes_store), _table(path))


def test_a_sweep_in_a_worker_thread_agrees_with_processes(processes_store, tmp_path):
    # Dask runs each cell in a worker *thread*. NumPy 2.1.0 and 2.1.1 start every thread but
    # the main one under legacy (value-based) promotion (numpy/numpy#27473), which changed
    # results in the last bits there; this reproduces that without a cluster.
    import threading

    path = tmp_path / "thread.sqlite"
    box = {}

    def work():
        try:
            box["summary"] = run(_mixed_spec(), store=path, executor="serial", threads=1, progress=False)
        except BaseException as e:  # re-raised in the main thread below
            box["error"] = e

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    assert box["summary"].cells_failed == 0
    _assert_same(_table(processes_store), _table(path))


def test_dask_local_cluster_agrees_with_processes(processes_store, tmp_path):
    distributed = pytest.importorskip("distributed")
    path = tmp_path / "dask.sqlite"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        s = run(
            _mixed_spec(), store=path, executor="dask", scheduler=cluster.scheduler_address, progress=False
        )
        assert s.cells_failed == 0 and s.cells_run == s.cells_total
        # resuming on the cluster skips everything
        s2 = run(
            _mixed_spec(), store=path, executor="dask", scheduler=cluster.scheduler_address, progress=False
        )
        assert (s2.cells_run, s2.cells_skipped) == (0, s.cells_total)
    _assert_same(_table(processes_store), _table(path))


def test_real_cells_are_sane(processes_store):
    df = load(processes_store)
    assert set(df["label"]) == {"toy", "onestep", "random_features", "oracle", "transfer"}
    assert (df["excess_error"] >= 0).all()
    oracle = df[df["label"] == "oracle"]
    assert oracle["alignment"].isna().all() and (oracle["excess_error"] < 0.05).all()
    one = df[df["label"] == "onestep"]
    assert one["alignment"].between(0, 1).all()
    tr = df[df["label"] == "transfer"]
    assert (tr["extra"].map(lambda e: e["n_source"]) == 256).all()
    assert all("fit" in t and "evaluate" in t for t in one["timings"])
    # the backend column is the learner's backend_ as JSON: {family: backend that ran it}
    for b in set(df["backend"]) - {"toy"}:
        assert set(json.loads(b).values()) <= {"reference", "cpp", "numba"}, b


def test_backend_column_is_the_learners_record():
    from fastrep.experiments.methods import _backend_json

    class Fitted:
        backend_ = {"stream": "cpp", "onestep": "numba", "ridge": "numba"}

    assert _backend_json(Fitted()) == '{"onestep": "numba", "ridge": "numba", "stream": "cpp"}'
    assert _backend_json(object()) is None  # a learner of the user's own that records nothing


def test_targets_share_U_across_methods_and_n():
    spec = _mixed_spec()
    cells = [c for c in spec.cells() if c.d == 6 and c.seed == 1]
    Us = {build_target(c.params["target"], c.d, c.seed).U.tobytes() for c in cells}
    assert len(Us) == 1
    assert derive_seed(1, "data") != derive_seed(1, "model") != derive_seed(2, "data")


def test_bad_executor_arguments(tmp_path):
    spec = load_spec(toy_spec(seeds=1, grid={"d": [4], "n": [8]}))
    with pytest.raises(ValueError, match="executor must be one of"):
        run(spec, store=tmp_path / "s.sqlite", executor="threads")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        run(spec, store=tmp_path / "s.sqlite", workers=0)
    with pytest.raises(ExecutorError, match="scheduler"):
        run(spec, store=tmp_path / "s.sqlite", executor="dask")
    assert not (tmp_path / "s.sqlite").exists()


def _threaded_spec():
    """Cells whose NTK solve is large enough for the BLAS to split it across threads (its last bits
    then depend on the thread count)."""
    return load_spec({
        "name": "bits", "epsilon": 0.5, "seeds": 2, "target": {"preset": "separation"},
        "grid": {"d": [16], "n": [512]}, "evaluation": {"n_val": 300, "n_test": 600},
        "methods": {"ntk": {"ridge": 1e-8}, "onestep": {"width": 128}},
    })


def test_default_settings_give_the_same_bits_on_every_executor(tmp_path):
    """Serial, local processes and Dask (two threads per worker, in this process and in worker
    processes) store identical numbers by default: no executor's default changes the BLAS
    thread count of a cell, and no cell changes it under another cell of the same process."""
    distributed = pytest.importorskip("distributed")
    tables = {}
    s = run(_threaded_spec(), store=tmp_path / "serial.sqlite", executor="serial", progress=False)
    assert s.cells_failed == 0
    tables["serial"] = _table(tmp_path / "serial.sqlite")
    s = run(_threaded_spec(), store=tmp_path / "proc.sqlite", executor="processes", workers=2, progress=False)
    assert s.cells_failed == 0
    tables["processes"] = _table(tmp_path / "proc.sqlite")
    for processes in (False, True):
        path = tmp_path / f"dask-{processes}.sqlite"
        where = {"host": "127.0.0.1"} if processes else {}  # in this process: the inproc transport
        with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=processes,
                                      dashboard_address=None, **where) as cluster:
            s = run(_threaded_spec(), store=path, executor="dask", scheduler=cluster.scheduler_address,
                    progress=False)
        assert s.cells_failed == 0
        tables[f"dask processes={processes}"] = _table(path)
    for table in tables.values():
        _assert_same(tables["serial"], table)
