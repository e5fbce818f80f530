"""Writes the scikit-learn and SciPy values that the multi-label and regression
metrics are tested against: crates/metrics/tests/fixtures/sklearn.json.

Run with the reference venv (`scripts/reference/venv.sh`):
    .venv/bin/python scripts/reference/metric_fixtures.py

Each case holds its inputs (seeded, with the edge cases the metrics must agree on:
empty label sets, a label never true nor predicted, tied scores, tied values, a
constant truth) and the library's outputs at its default settings.
"""

import json
import pathlib
import warnings

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    hamming_loss,
    label_ranking_average_precision_score,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "metrics" / "tests" / "fixtures" / "sklearn.json"

warnings.simplefilter("ignore")  # zero-division warnings: the 0 they set is the value tested


def nan_to_none(x):
    x = float(x)
    return None if np.isnan(x) else x


def regression_case(name, truth, predicted):
    truth = np.asarray(truth, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    return {
        "name": name,
        "truth": truth.tolist(),
        "predicted": predicted.tolist(),
        "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
        "mae": float(mean_absolute_error(truth, predicted)),
        "r2": float(r2_score(truth, predicted)),
        "pearson": nan_to_none(pearsonr(truth, predicted).statistic),
        "spearman": nan_to_none(spearmanr(truth, predicted).statistic),
    }


def multi_label_case(name, truth, predicted, scores):
    truth = np.asarray(truth, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, average=None
    )
    return {
        "name": name,
        "labels": truth.shape[1],
        "truth": truth.tolist(),
        "predicted": predicted.tolist(),
        "scores": scores.astype(np.float64).tolist(),
        "micro_f1": float(f1_score(truth, predicted, average="micro")),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "samples_f1": float(f1_score(truth, predicted, average="samples")),
        "subset_accuracy": float(accuracy_score(truth, predicted)),
        "hamming_loss": float(hamming_loss(truth, predicted)),
        "ranking_average_precision": float(
            label_ranking_average_precision_score(truth, scores)
        ),
        "per_label_precision": precision.tolist(),
        "per_label_recall": recall.tolist(),
        "per_label_f1": f1.tolist(),
        "support": support.tolist(),
    }


def main():
    rng = np.random.default_rng(20261207)
    truth = rng.normal(0.0, 1.5, 60)
    regression = [
        regression_case("noisy", truth, truth * 0.8 + rng.normal(0.0, 0.7, 60)),
        # Rounded to halves: ties on both sides for Spearman's average ranks.
        regression_case(
            "ties",
            np.round(truth * 2) / 2,
            np.round((truth + rng.normal(0.0, 1.0, 60)) * 2) / 2,
        ),
        regression_case("anticorrelated", truth[:7], -truth[:7] + 0.1),
        regression_case("constant truth, exact", [2.0] * 5, [2.0] * 5),
        regression_case("constant truth, off", [2.0] * 5, [1.0, 2.0, 3.0, 2.5, 2.0]),
    ]

    rows, labels = 40, 6
    scores = rng.random((rows, labels)).astype(np.float32)
    truth_ml = (rng.random((rows, labels)) < np.array([0.5, 0.3, 0.2, 0.1, 0.4, 0.0])).astype(int)
    truth_ml[:4] = 0  # records with no label
    predicted_ml = (scores > 0.55).astype(int)
    predicted_ml[:, 5] = 0  # a label never true nor predicted
    predicted_ml[2] = 0  # an empty record predicted empty
    tied = np.round(scores * 4) / 4  # ties in the ranking
    multi_label = [
        multi_label_case("random", truth_ml, predicted_ml, scores),
        multi_label_case("tied scores", truth_ml, predicted_ml, tied),
        multi_label_case(
            "small",
            [[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]],
            [[1, 0, 0], [0, 1, 1], [1, 1, 1], [0, 1, 0]],
            [[0.9, 0.2, 0.4], [0.1, 0.8, 0.6], [0.7, 0.7, 0.7], [0.3, 0.6, 0.1]],
        ),
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"regression": regression, "multi_label": multi_label}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
