"""Allocation benchmark: prints figures, asserts nothing about time.

Run ``python -m tests.benchmarks.allocation`` from a checkout with the dev extra
(``quotatree bench allocation`` there does the same). Not part of the installed package.

1. A 1,000,000-child WEIGHTS split (random float weights, parent 120 million in
   cents), against the floor: a bare numpy floor-plus-largest-remainder
   computation on the same weights in the same run. Figures:

   * ``floor``: ``q = w * (P / sum(w)); f = floor(q); +1 to the k largest q - f``
     (float, unvalidated, no tie-break: the least work that gives a sum);
   * ``kernel``: :func:`apportion_array` (validation, exactness certificate,
     deterministic tie-break), array in, array out: the like-for-like figure;
   * ``kernel+keys``: the same with 1,000,000 string keys for the tie-break;
   * ``allocate()``: the whole entry point on 1,000,000 ``ChildInput`` objects
     (built beforehand): validation, key uniqueness, the vectorised path and
     the conversion to a tuple of Python ints. Explanations are lazy and not
     included.

2. A 200 x 50 two-way split (seed: random prior-year actuals with some empty
   cells; consistent integer margins): :func:`split_matrix` (IPF + controlled
   rounding), against a bare numpy IPF loop running the same number of
   iterations (the floor of the fitting part).

Each time is the best of ``--repeats`` runs (the machine is shared and noisy);
peak memory is measured separately with ``tracemalloc`` (which sees numpy's
allocations), one run each.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from service.domain.allocation import (
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
    MatrixRequest,
    allocate,
    apportion,
    apportion_array,
    fit_ipf,
    split_matrix,
)

PARENT = 12_000_000_000  # 120 million in cents
GOAL_SECONDS = 0.5
GOAL_RATIO = 2.0


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """Best wall time of ``repeats`` runs (garbage collection off while timing)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated while ``fn`` runs (tracemalloc, numpy included)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bare_floor(total: int, w: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The floor: float quotas, floor, +1 to the k largest remainders."""
    q = w * (total / w.sum())
    f = np.floor(q)
    k = total - int(f.sum())
    out: npt.NDArray[np.int64] = f.astype(np.int64)
    if k:
        out[np.argpartition(q - f, len(q) - k)[len(q) - k :]] += 1
    return out


def bare_ipf(
    seed: npt.NDArray[np.float64],
    rows: npt.NDArray[np.float64],
    cols: npt.NDArray[np.float64],
    iterations: int,
) -> npt.NDArray[np.float64]:
    """The floor of the fitting part: the same number of row/column rescalings, nothing else."""
    x = seed.copy()
    for _ in range(iterations):
        x *= (rows / x.sum(axis=1))[:, None]
        x *= (cols / x.sum(axis=0))[None, :]
    return x


def _mb(n: int) -> str:
    return f"{n / 2**20:8.1f} MiB"


def _row(name: str, seconds: float, floor: float, memory: int | None) -> str:
    mem = _mb(memory) if memory is not None else " " * 12
    return f"  {name:<26} {seconds * 1e3:9.1f} ms   x{seconds / floor:5.2f}   {mem}"


def bench_weights(n: int, repeats: int, seed: int, out: Callable[[str], None]) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    weights = rng.random(n)
    keys = [f"C{i:07d}" for i in range(n)]
    children = tuple(ChildInput(k, weight=w) for k, w in zip(keys, weights.tolist(), strict=True))
    request = AllocationRequest(PARENT, children, AllocationSpec(AllocationMethod.WEIGHTS))

    floor_result = bare_floor(PARENT, weights)
    kernel_result = apportion_array(PARENT, weights)
    result = allocate(request)
    assert int(kernel_result.sum()) == PARENT and sum(result.amounts) == PARENT
    same = (
        bool((floor_result == kernel_result).all())
        and list(result.amounts) == kernel_result.tolist()
    )

    t_floor = best_of(lambda: bare_floor(PARENT, weights), repeats)
    t_kernel = best_of(lambda: apportion_array(PARENT, weights), repeats)
    t_keys = best_of(lambda: apportion_array(PARENT, weights, keys), repeats)
    t_alloc = best_of(lambda: allocate(request), max(3, repeats // 2))
    m_floor = peak_memory(lambda: bare_floor(PARENT, weights))
    m_kernel = peak_memory(lambda: apportion_array(PARENT, weights))
    m_alloc = peak_memory(lambda: allocate(request))

    out(f"WEIGHTS split: {n:,} children, parent {PARENT:,}, random float weights")
    out(f"  {'':<26} {'best time':>12}   {'ratio':>6}   {'peak memory':>12}")
    out(_row("floor (bare numpy)", t_floor, t_floor, m_floor))
    out(_row("kernel apportion_array", t_kernel, t_floor, m_kernel))
    out(_row("kernel + 1M keys", t_keys, t_floor, None))
    out(_row("allocate() end to end", t_alloc, t_floor, m_alloc))
    out(f"  same cents as the floor: {'yes' if same else 'NO'} (random weights: no ties)")
    kernel_ok = t_kernel <= GOAL_RATIO * t_floor and t_kernel < GOAL_SECONDS
    out(
        f"  goal kernel <= {GOAL_RATIO:g}x floor and < {GOAL_SECONDS:g} s: "
        f"{'met' if kernel_ok else 'NOT met'}; allocate() < {GOAL_SECONDS:g} s: "
        f"{'met' if t_alloc < GOAL_SECONDS else 'NOT met'}"
    )
    return {"floor": t_floor, "kernel": t_kernel, "kernel_keys": t_keys, "allocate": t_alloc}


def bench_matrix(
    rows: int, cols: int, repeats: int, seed: int, out: Callable[[str], None]
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    seed_table = rng.gamma(2.0, 5_000.0, size=(rows, cols)).round()
    seed_table[rng.random((rows, cols)) < 0.05] = 0  # empty history: gets the prior
    truth = seed_table * rng.lognormal(0.0, 0.3, size=(rows, cols)) + 1
    total = PARENT
    row_targets = apportion(total, truth.sum(axis=1).tolist())
    col_targets = apportion(total, truth.sum(axis=0).tolist())
    request = MatrixRequest(
        tuple(f"R{i:03d}" for i in range(rows)),
        tuple(f"P{j:03d}" for j in range(cols)),
        tuple(row_targets),
        tuple(col_targets),
        tuple(tuple(int(v) for v in r) for r in seed_table),
    )
    result = split_matrix(request)
    cells = np.array(result.cells, dtype=np.int64)
    assert cells.sum(axis=1).tolist() == row_targets and cells.sum(axis=0).tolist() == col_targets
    start = np.where(seed_table > 0, seed_table, 1e-3 * seed_table[seed_table > 0].mean())
    r_arr = np.array(row_targets, dtype=np.float64)
    c_arr = np.array(col_targets, dtype=np.float64)

    t_floor = best_of(lambda: bare_ipf(start, r_arr, c_arr, result.iterations), repeats)
    t_fit = best_of(lambda: fit_ipf(start, [row_targets, col_targets]), repeats)
    t_split = best_of(lambda: split_matrix(request), repeats)
    m_floor = peak_memory(lambda: bare_ipf(start, r_arr, c_arr, result.iterations))
    m_split = peak_memory(lambda: split_matrix(request))

    out("")
    out(
        f"Two-way split: {rows} x {cols}, total {total:,}; IPF {result.iterations} iterations, "
        f"largest residual {result.max_residual:.2e}, rounding band {result.rounding_band}"
    )
    out(f"  {'':<26} {'best time':>12}   {'ratio':>6}   {'peak memory':>12}")
    out(_row("floor (bare numpy IPF)", t_floor, t_floor, m_floor))
    out(_row("fit_ipf", t_fit, t_floor, None))
    out(_row("split_matrix (fit+round)", t_split, t_floor, m_split))
    out(
        f"  controlled rounding share: {max(t_split - t_fit, 0.0) * 1e3:.1f} ms; "
        f"goal < {GOAL_SECONDS:g} s: {'met' if t_split < GOAL_SECONDS else 'NOT met'}"
    )
    return {"floor": t_floor, "fit": t_fit, "split": t_split}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.allocation",
        description="Allocation benchmark (prints figures).",
    )
    parser.add_argument("--children", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args(list(argv) if argv is not None else None)

    def out(line: str) -> None:
        print(line, flush=True)

    out(
        f"quotatree allocation benchmark - Python {platform.python_version()}, numpy "
        f"{np.__version__}, {platform.machine()}; best of {args.repeats}"
    )
    out("")
    bench_weights(args.children, args.repeats, args.seed, out)
    bench_matrix(args.rows, args.cols, args.repeats, args.seed, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
