"""asv benchmarks for MultiStepNetwork: T first-layer steps, then ridge, over d, n, T and B.

``StepsFit`` times ``MultiStepNetwork(width, steps=T, protocol, ...).fit_stream(stream, n)`` end
to end on a He2 target (Gaussian readout, no decay, fixed ridge) over n, d, T and the protocol,
with the peak memory of a regenerating fit (flat in n for the streamed protocols). ``OnlineSGD``
times the 'steps' stage of ``protocol='online'`` over the batch size B (B = 1 runs in the
compiled loop, B = 256 and 1024 through BLAS products and two fused compiled passes).
``ASV_SKIP_SLOW=1`` trims the grids.
"""

from __future__ import annotations

from ._common import SKIP_SLOW


def _net(width, steps, protocol, batch_size=None, record_every=None):
    import fastrep

    return fastrep.MultiStepNetwork(width=width, steps=steps, protocol=protocol, batch_size=batch_size,
                                    lr=20.0, weight_decay=0.0, readout="gaussian", ridge=1e-3, seed=0,
                                    record_every=record_every or steps)


class StepsFit:
    """``MultiStepNetwork(width=512, steps=T, protocol).fit_stream(he2 stream, n)``, float32."""

    if SKIP_SLOW:
        params = ([8192], [64], [1, 4], ["fresh"])
    else:  # sized for 2 cores: 8 cells, each a few seconds
        params = ([16384, 65536], [128], [1, 4], ["fresh", "reuse"])
    param_names = ["n", "d", "T", "protocol"]
    timeout = 600
    width = 512
    # a fit takes seconds: one call per sample, 3 to 5 samples, one round
    number, repeat, rounds, warmup_time = 1, (3, 5, 30.0), 1, 0.0

    def setup(self, n, d, T, protocol):
        import fastrep

        self.target = fastrep.MultiIndexTarget.single_index(d, "he2", seed=0)
        self.make = lambda: (fastrep.GaussianStream(self.target, 1), _net(self.width, T, protocol))
        stream, net = self.make()
        net.fit_stream(stream, 2048)  # warm-up: compiles, BLAS threads, lazy imports

    def time_fit_stream(self, n, d, T, protocol):
        stream, net = self.make()
        net.fit_stream(stream, n)

    def track_steps_share(self, n, d, T, protocol):
        """The 'steps' stage's share of the fit's stage time (``timings_``)."""
        stream, net = self.make()
        net.fit_stream(stream, n)
        return net.timings_["steps"] / sum(net.timings_.values())

    track_steps_share.unit = "fraction"

    def peakmem_fit_stream(self, n, d, T, protocol):
        """Peak memory of a regenerating fit: flat in n, compare with ``peakmem_reference``."""
        stream, net = self.make()
        net.fit_stream(stream, n, cache="regenerate")

    def peakmem_reference(self, n, d, T, protocol):
        """Nothing: the peak memory of setup, the baseline for ``peakmem_fit_stream``."""


class OnlineSGD:
    """The 'steps' stage of online SGD (batch B, n // B steps) at d, width 64, float64."""

    if SKIP_SLOW:
        params = ([1, 256], [64], [8192])
    else:  # B = 1 and 64 in the compiled loop, 256 and 1024 through BLAS and the fused passes
        params = ([1, 64, 256, 1024], [256], [65536])
    param_names = ["B", "d", "n"]
    timeout = 600
    number, repeat, rounds, warmup_time = 1, (3, 5, 30.0), 1, 0.0

    def setup(self, B, d, n):
        import numpy as np

        import fastrep

        target = fastrep.MultiIndexTarget.single_index(d, "he3", seed=0)
        self.X, self.y = target.sample(n, 0, dtype=np.float64)
        self.net = _net(64, n // B, "online", batch_size=B).set_params(dtype=np.float64, lr=0.05)
        steps = min(64, n // B)
        warm = _net(64, steps, "online", batch_size=B).set_params(dtype=np.float64, lr=0.05)
        warm.fit(self.X[: steps * B], self.y[: steps * B])  # Numba's cache, BLAS threads

    def time_online_fit(self, B, d, n):
        self.net.fit(self.X, self.y)

    def track_steps_per_second(self, B, d, n):
        """First-layer steps per second of the 'steps' stage."""
        self.net.fit(self.X, self.y)
        return (n // B) / self.net.timings_["steps"]

    track_steps_per_second.unit = "steps/s"
