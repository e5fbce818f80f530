"""What a reduced precision costs the pipeline downstream: the same head sweep over
features of each precision, test accuracy and macro-F1, mean over seeds.

    precision_downstream.py BERTCLS OUT_DIR [--data r8,spam]
                            [--precisions fp32,int8,bf16,fp32@ndarray,onnx-int8]
                            [--seeds 1,2,3] [--heads 8] [--max-len 128]

For each data set and precision: `bertcls embed` of the train, validation and test
splits (cached in OUT_DIR/cache), then per seed `bertcls head sweep --random HEADS
--seed S` (the same heads drawn from the default grid for every precision) and
`bertcls head predict` of the best head on the test cache. Accuracy and macro-F1 are
computed here from the predictions, independently of bertcls's own metrics. Prints one
JSON object: per data set, per precision, every seed's scores and their means, and
each precision's difference from fp32, seed by seed, with its standard error.

`PRECISION@BACKEND` embeds on another backend. `fp32@ndarray` is the null control:
the same arithmetic in another summation order (vectors within ~1e-6 of flex's), so
whatever it moves the scores by is what a sweep's training makes of any perturbation,
not what a precision costs. `onnx-int8` sweeps ONNX Runtime's int8 vectors
(bench_encoder.py's export and `quantize_dynamic`) in the same way; it needs fp32's
caches, so list it after fp32.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(command):
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"failed: {' '.join(map(str, command))}")
    return time.time() - started


def scores(predictions):
    truth, predicted = [], []
    for line in open(predictions):
        if line.strip():
            record = json.loads(line)
            truth.append(record["true_label"])
            predicted.append(record["label"])
    accuracy = sum(t == p for t, p in zip(truth, predicted)) / len(truth)
    f1s = []
    for label in sorted(set(truth)):
        tp = sum(t == label and p == label for t, p in zip(truth, predicted))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s)}


def paired_points(runs, base_runs):
    """The per-seed differences from fp32 in points: mean and standard error. The same
    seed draws the same heads and initialisations, so the pairing removes the spread
    between seeds and leaves what the features change."""
    paired = {}
    for key in ["accuracy", "macro_f1"]:
        deltas = [100 * (r[key] - b[key]) for r, b in zip(runs, base_runs)]
        mean = sum(deltas) / len(deltas)
        spread = sum((d - mean) ** 2 for d in deltas) / max(len(deltas) - 1, 1)
        paired[key] = {"mean": mean, "standard_error": math.sqrt(spread / len(deltas))}
    return paired


ONNX_INT8 = "onnx-int8"
HEADER_BYTES = 32  # vectors.f32: magic, version, dtype, rows, dim (crates/encoder/src/cache.rs)


def replace_file(path, content):
    """Writes `content` to a temporary name beside `path` and renames it into place, so
    that an interrupted study never leaves a torn file."""
    staging = path.with_name(f".{path.name}.partial")
    staging.write_bytes(content)
    os.replace(staging, path)


def embed_ours(args, data, split, variant, output):
    """`bertcls embed` of one split at `variant` (`PRECISION` or `PRECISION@BACKEND`)."""
    precision, _, backend = variant.partition("@")
    backend = backend or "flex"
    return run([
        args.bertcls, "embed", "--model", args.model,
        "--input", f"data/{data}/{split}.jsonl", "--max-len", str(args.max_len),
        "--precision", precision, "--backend", backend, "--output", output,
        # The cache is keyed by what is computed, not where: another backend needs
        # its own, or it would be served flex's vectors.
        "--cache-dir", args.out / ("cache" if backend == "flex" else f"cache-{backend}"),
    ])


def embed_onnx_int8(args, data, split, fp32_cache, output):
    """ONNX Runtime's int8 `quantize_dynamic` vectors of one split (bench_encoder.py's
    sorted pass, mean pooled, in the data's order), as an embedding cache the sweep
    reads: fp32's cache with its rows replaced and its marker resealed. The meta
    (ids, labels, fingerprint) is fp32's, so the three splits match one another; the
    cache is this study's, never one to hand a user."""
    import hashlib

    import numpy as np

    vectors_npy = output.with_suffix(".npy")
    seconds = run([
        sys.executable, Path(__file__).with_name("bench_encoder.py"), args.model,
        f"data/{data}/{split}.jsonl", "--engine", ONNX_INT8, "--repeats", "1",
        "--max-len", str(args.max_len), "--vectors", vectors_npy,
    ])
    vectors = np.load(vectors_npy).astype("<f4")
    # fp32's meta and marker, then the rows: its vectors are never copied only to be
    # overwritten.
    shutil.copytree(fp32_cache, output, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("vectors.f32"))
    with open(fp32_cache / "vectors.f32", "rb") as fp32_vectors:
        header = fp32_vectors.read(HEADER_BYTES)
    rows, dim = (int.from_bytes(header[at:at + 8], "little") for at in (16, 24))
    if vectors.shape != (rows, dim):
        raise SystemExit(f"{vectors_npy}: {vectors.shape} vectors for a {rows} × {dim} cache")
    body = header + vectors.tobytes()
    replace_file(output / "vectors.f32", body)
    marker_path = output / "bertcls-artifact.json"
    marker = json.loads(marker_path.read_text())
    marker["files"]["vectors.f32"] = hashlib.sha256(body).hexdigest()
    replace_file(marker_path, json.dumps(marker, indent=2).encode())
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bertcls")
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", default="r8,spam")
    parser.add_argument("--precisions", default=f"fp32,int8,bf16,fp32@ndarray,{ONNX_INT8}")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {
        "what": "the same head sweep over features of each precision: test scores, mean over seeds",
        "max_len": args.max_len,
        "heads_per_sweep": args.heads,
        "seeds": seeds,
        "data": {},
    }
    for data in args.data.split(","):
        per_precision = {}
        for variant in args.precisions.split(","):
            work = args.out / data / variant
            work.mkdir(parents=True, exist_ok=True)
            caches, embed_seconds = {}, 0.0
            for split in ["train", "validation", "test"]:
                caches[split] = work / f"{split}.emb"
                if variant == ONNX_INT8:
                    fp32_cache = args.out / data / "fp32" / f"{split}.emb"
                    embed_seconds += embed_onnx_int8(args, data, split, fp32_cache, caches[split])
                else:
                    embed_seconds += embed_ours(args, data, split, variant, caches[split])
            runs = []
            for seed in seeds:
                sweep = work / f"sweep-{seed}"
                run([
                    args.bertcls, "head", "sweep", "--train", caches["train"],
                    "--valid", caches["validation"], "--random", str(args.heads),
                    "--seed", str(seed), "--out", sweep,
                ])
                predictions = work / f"test-{seed}.jsonl"
                run([
                    args.bertcls, "head", "predict", "--head", sweep / "best.head",
                    "--cache", caches["test"], "--output", predictions,
                ])
                runs.append({"seed": seed, **scores(predictions)})
            mean = {
                key: sum(r[key] for r in runs) / len(runs) for key in ["accuracy", "macro_f1"]
            }
            per_precision[variant] = {"runs": runs, "mean": mean, "embed_seconds": embed_seconds}
            print(f"{data} {variant}: {mean}", file=sys.stderr)
        if "fp32" in per_precision:
            base = per_precision["fp32"]
            for entry in per_precision.values():
                entry["points_from_fp32"] = paired_points(entry["runs"], base["runs"])
        results["data"][data] = per_precision
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
