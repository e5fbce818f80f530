"""scikit-learn's linear models on frozen features: the baselines the pipeline's heads
must reach (issue 36) on the same vectors.

    frozen_baselines.py DATA_DIR FEATURES_DIR

DATA_DIR holds train/validation/test.jsonl; FEATURES_DIR holds train.npy,
validation.npy and test.npy (`bertcls embed --export-npy`, in the files' order). The
task is read from the labels' form, as bertcls reads it: numbers not all whole are
regression (RidgeCV, its default alphas and a wide grid, fitted on train); lists are
multi-label (one-vs-rest logistic regression, C = 1, threshold 0.5). Test scores are
printed as one JSON object, with the metrics bertcls reports for the task.
"""

import json
import pathlib
import sys

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import (
    f1_score,
    hamming_loss,
    label_ranking_average_precision_score,
    mean_absolute_error,
    r2_score,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

SPLITS = ("train", "validation", "test")


def labels(path):
    return [json.loads(line)["label"] for line in open(path) if line.strip()]


def regression(x, y):
    out = {}
    for name, alphas in [("ridge_cv", (0.1, 1.0, 10.0)), ("ridge_cv_wide", np.logspace(-3, 3, 13))]:
        model = RidgeCV(alphas=alphas).fit(x["train"], y["train"])
        predicted = model.predict(x["test"])
        truth = np.asarray(y["test"], dtype=np.float64)
        out[name] = {
            "alpha": float(model.alpha_),
            "pearson": float(pearsonr(truth, predicted).statistic),
            "spearman": float(spearmanr(truth, predicted).statistic),
            "rmse": float(np.sqrt(np.mean((truth - predicted) ** 2))),
            "mae": float(mean_absolute_error(truth, predicted)),
            "r2": float(r2_score(truth, predicted)),
        }
    return out


def multi_label(x, y):
    binarizer = MultiLabelBinarizer().fit(y["train"] + y["validation"] + y["test"])
    train, test = binarizer.transform(y["train"]), binarizer.transform(y["test"])
    model = OneVsRestClassifier(LogisticRegression(max_iter=2000)).fit(x["train"], train)
    scores = model.predict_proba(x["test"])
    predicted = (scores >= 0.5).astype(int)
    return {
        "one_vs_rest_logistic_regression": {
            "micro_f1": float(f1_score(test, predicted, average="micro")),
            "macro_f1": float(f1_score(test, predicted, average="macro")),
            "samples_f1": float(f1_score(test, predicted, average="samples")),
            "hamming_loss": float(hamming_loss(test, predicted)),
            "ranking_average_precision": float(
                label_ranking_average_precision_score(test, scores)
            ),
        }
    }


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    data, features = map(pathlib.Path, sys.argv[1:])
    x = {s: np.load(features / f"{s}.npy") for s in SPLITS}
    y = {s: labels(data / f"{s}.jsonl") for s in SPLITS}
    for s in SPLITS:
        if len(x[s]) != len(y[s]):
            raise SystemExit(f"{s}: {len(x[s])} vectors for {len(y[s])} records")
    first = y["train"][0]
    if isinstance(first, list):
        task, scores = "multi-label", multi_label(x, y)
    elif all(isinstance(v, (int, float)) for v in y["train"]):
        task, scores = "regression", regression(x, y)
    else:
        raise SystemExit("single-label data: see bench_heads.py")
    print(json.dumps({"data": str(data), "task": task, "rows": {s: len(y[s]) for s in SPLITS}, "test": scores}, indent=1))


if __name__ == "__main__":
    main()
