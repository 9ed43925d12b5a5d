"""Benchmark: chainkit's numpy row decoder vs scalecodec on 1024 Weights rows.

scalecodec decodes with the metadata's own type for ``SubtensorModule.Weights`` (spec 343,
from ``../shared/chain-data``), in the same run and on the same bytes; both results are checked
equal before timing counts. The last line printed is one JSON object with ``decode_speedup``.

    python bench/decode.py [--rows 1024] [--max-pairs 128] [--seed 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scalecodec.base import ScaleBytes  # noqa: E402

from taoaudit.chainkit.decode import decode_rows  # noqa: E402
from taoaudit.chainkit.metadata import load_metadata_file  # noqa: E402
from taoaudit.chainkit.codec import compact_bytes as compact  # noqa: E402

METADATA = ROOT.parent / "shared" / "chain-data" / "bittensor-ws" / "metadata_v14_spec343.hex"


def make_rows(n_rows: int, max_pairs: int, seed: int) -> list[bytes]:
    """Weights-like rows: random lengths, columns < n_rows, u16 values."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_rows):
        k = int(rng.integers(0, max_pairs + 1))
        cols = rng.choice(n_rows, size=k, replace=False).astype("<u2")
        vals = rng.integers(0, 65536, size=k).astype("<u2")
        pairs = np.empty(2 * k, dtype="<u2")
        pairs[0::2], pairs[1::2] = cols, vals
        rows.append(compact(k) + pairs.tobytes())
    return rows


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--max-pairs", type=int, default=128)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    rt = load_metadata_file(METADATA)
    entry = rt.storage_entry("SubtensorModule", "Weights")
    type_string = entry.get_value_type_string()
    rc = rt.runtime_config
    rows = make_rows(args.rows, args.max_pairs, args.seed)
    pairs = sum((len(r) - 1) // 4 for r in rows)

    def scalecodec_all() -> list:
        out = []
        for r in rows:
            obj = rc.create_scale_object(type_string, data=ScaleBytes(bytearray(r)))
            out.append(obj.decode())
        return out

    def numpy_all():
        return decode_rows(rows)

    # Same answer first, or the timing means nothing.
    ref = scalecodec_all()
    indptr, cols, vals, present = numpy_all()
    for i, row in enumerate(ref):
        a, b = indptr[i], indptr[i + 1]
        got = list(zip(cols[a:b].tolist(), vals[a:b].tolist()))
        assert got == [tuple(p) for p in row], f"row {i} differs"

    t_scale = best_of(scalecodec_all, 2)
    t_numpy = best_of(numpy_all, 20)
    speedup = t_scale / t_numpy
    print(f"type {type_string} (SubtensorModule.Weights, spec {rt.spec_version})")
    print(f"{args.rows} rows, {pairs} pairs, {sum(map(len, rows))} bytes")
    print(f"scalecodec {t_scale * 1e3:.1f} ms, numpy {t_numpy * 1e3:.3f} ms")
    print(
        json.dumps(
            {
                "decode_speedup": round(speedup, 1),
                "rows": args.rows,
                "pairs": pairs,
                "scalecodec_s": round(t_scale, 4),
                "numpy_s": round(t_numpy, 6),
                "spec_version": rt.spec_version,
            }
        )
    )


if __name__ == "__main__":
    main()
