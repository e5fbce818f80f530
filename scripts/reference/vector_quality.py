"""How far reduced-precision vectors stray from full-precision ones, and what it costs a
classifier: the quality side of `bertcls embed --precision int8` against ONNX Runtime's
int8.

    vector_quality.py DATA.jsonl REF=ref.npy NAME=vectors.npy [NAME=vectors.npy ...]

For each NAME: the cosine of each row to REF's (mean and worst), and for every set of
vectors (REF included), a logistic regression's 5-fold cross-validated accuracy and
macro-F1 on DATA's labels (the same folds for all). Prints one JSON object.
"""

import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict


def main():
    data, *named = sys.argv[1:]
    if len(named) < 2:
        raise SystemExit(__doc__)
    labels = np.array([json.loads(line)["label"] for line in open(data) if line.strip()])
    vectors = {}
    for item in named:
        name, path = item.split("=", 1)
        vectors[name] = np.load(path)
        if len(vectors[name]) != len(labels):
            raise SystemExit(f"{path}: {len(vectors[name])} rows for {len(labels)} records")
    reference_name = next(iter(vectors))
    reference = vectors[reference_name]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    results = {"data": data, "reference": reference_name, "sets": {}}
    for name, x in vectors.items():
        predicted = cross_val_predict(LogisticRegression(max_iter=2000), x, labels, cv=folds)
        entry = {
            "accuracy": accuracy_score(labels, predicted),
            "macro_f1": f1_score(labels, predicted, average="macro"),
        }
        if name != reference_name:
            cosine = (x * reference).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(reference, axis=1)
            entry["cosine_mean"] = float(cosine.mean())
            entry["cosine_min"] = float(cosine.min())
        results["sets"][name] = entry
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
