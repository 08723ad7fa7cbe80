#!/usr/bin/python3
"""Compare every dataset of two HDF5 files (virtual datasets are read through), ignoring attributes
such as created_utc that differ between runs.

    h5compare.py A.h5 B.h5 [--rtol R] [--only DATASET ...]

Both files must hold the same datasets with the same shapes and types. Integer, boolean and string
datasets must be equal. Floating-point datasets must be bit-identical (NaN where NaN) when R = 0
(the default); with R > 0 they may differ by at most R * max|B| (normwise, per dataset).
Prints one line; exit 0 if they agree, 1 if not, 2 on bad usage.
"""
import argparse
import sys

import h5py
import numpy as np


def datasets(f, only):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    if only:
        missing = [d for d in only if d.strip("/") not in out]
        if missing:
            raise KeyError(f"{f.filename}: no dataset {', '.join(missing)}")
        out = {d.strip("/"): out[d.strip("/")] for d in only}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=0.0)
    ap.add_argument("--only", nargs="+", default=[])
    args = ap.parse_args()
    try:
        fa, fb = h5py.File(args.a, "r"), h5py.File(args.b, "r")
        da, db = datasets(fa, args.only), datasets(fb, args.only)
    except (OSError, KeyError) as e:
        print(f"h5compare: {e}")
        return 1
    problems, worst, worst_name, n_differ = [], 0.0, "", 0
    for name in sorted(set(da) | set(db)):
        if name not in da or name not in db:
            problems.append(f"{name} only in {args.a if name in da else args.b}")
            continue
        x, y = da[name][()], db[name][()]
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            problems.append(f"{name}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
            continue
        if x.dtype.kind not in "fc":
            if not np.array_equal(x, y):
                problems.append(f"{name}: values differ")
            continue
        if np.array_equal(x, y, equal_nan=True):
            continue
        n_differ += 1
        nan_x, nan_y = np.isnan(x), np.isnan(y)
        if not np.array_equal(nan_x, nan_y):
            problems.append(f"{name}: NaN in different places")
            continue
        diff = float(np.max(np.abs(x[~nan_x].astype(np.float64) - y[~nan_y])))
        scale = float(np.max(np.abs(y[~nan_y]))) if (~nan_y).any() else 0.0
        rel = diff / scale if scale > 0 else float("inf")
        if rel > worst:
            worst, worst_name = rel, name
        if args.rtol == 0.0 or rel > args.rtol:
            problems.append(f"{name}: max |diff| {diff:.3g} = {rel:.3g} x max|value|")
    if problems:
        print(f"h5compare: {args.a} vs {args.b}: " + "; ".join(problems[:8])
              + (f"; ... ({len(problems)} in all)" if len(problems) > 8 else ""))
        return 1
    if n_differ:
        print(f"{len(da)} datasets agree within rtol {args.rtol:g} ({n_differ} not bit-identical; "
              f"worst {worst:.2g} x max|value| in {worst_name})")
    else:
        print(f"{len(da)} datasets bit-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
