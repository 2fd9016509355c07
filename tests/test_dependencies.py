"""What the dependency lower bounds in pyproject.toml promise, checked in the environment at hand.

Each test here failed at a version the bounds once allowed (found by installing the oldest
allowed versions and running the tests, see pyproject.toml).
"""

import threading

import numpy as np


def test_threadpoolctl_controls_numpys_blas():
    # threadpoolctl < 3.5 does not recognise the libscipy_openblas that NumPy 2's wheels ship:
    # `threads=1` then left OpenBLAS on every core in the local workers while Dask's workers
    # (OPENBLAS_NUM_THREADS=1) ran it on one, and a sweep's results differed in the last bits
    # between the two executors (a lambda chosen on a flat validation curve moved).
    from threadpoolctl import threadpool_info, threadpool_limits

    np.ones((4, 4)) @ np.ones((4, 4))  # the BLAS is loaded
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    assert blas, "threadpoolctl sees no BLAS library in this process"
    with threadpool_limits(limits=1, user_api="blas"):
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")


def test_numpy_promotes_alike_in_every_thread():
    # NumPy 2.1.0 and 2.1.1 ran every thread but the main one under legacy (value-based)
    # promotion (numpy/numpy#27473); Dask runs each sweep cell in a worker thread.
    def promoted():
        try:
            return (np.float32(1.0) * 2.0).dtype, (np.uint64(3) & 1).dtype
        except TypeError as e:  # legacy promotion: uint64 & int64 -> float64, no bitwise and
            return repr(e)

    box = {}
    t = threading.Thread(target=lambda: box.setdefault("dtypes", promoted()))
    t.start()
    t.join()
    assert box["dtypes"] == promoted() == (np.dtype(np.float32), np.dtype(np.uint64))
