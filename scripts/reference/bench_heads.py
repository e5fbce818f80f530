"""Reference heads on the same cached features as `cargo xtask bench heads`.

Reads DIR/{train,validation,test}.npy (exported by `bertcls embed --export-npy`) and
the labels from DATA/{train,validation,test}.jsonl; prints one JSON object with, for
scikit-learn's LogisticRegression and a small PyTorch MLP, the fit time and the test
accuracy and macro-F1. Features are standardised on train, as our heads do.
"""

import json
import sys
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler


def load(features_dir, data_dir, split):
    x = np.load(f"{features_dir}/{split}.npy")
    y = [json.loads(line)["label"] for line in open(f"{data_dir}/{split}.jsonl")]
    return x, np.array(y)


def scores(y_true, y_pred):
    return {"accuracy": accuracy_score(y_true, y_pred), "macro_f1": f1_score(y_true, y_pred, average="macro")}


def main(features_dir, data_dir):
    torch.set_num_threads(torch.get_num_threads())
    x_train, y_train = load(features_dir, data_dir, "train")
    x_test, y_test = load(features_dir, data_dir, "test")
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    start = time.perf_counter()
    logreg = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    logreg_seconds = time.perf_counter() - start
    results = {"sklearn_logistic_regression": {"fit_seconds": logreg_seconds, **scores(y_test, logreg.predict(x_test))}}

    classes = sorted(set(y_train))
    index = {c: i for i, c in enumerate(classes)}
    xt = torch.tensor(x_train, dtype=torch.float32)
    yt = torch.tensor([index[c] for c in y_train])
    torch.manual_seed(42)
    mlp = torch.nn.Sequential(torch.nn.Linear(xt.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, len(classes)))
    optimizer = torch.optim.AdamW(mlp.parameters(), lr=3e-3, weight_decay=1e-4)
    epochs, batch = 30, 64
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            loss = torch.nn.functional.cross_entropy(mlp(xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    mlp_seconds = time.perf_counter() - start
    with torch.no_grad():
        predicted = mlp(torch.tensor(x_test, dtype=torch.float32)).argmax(1).numpy()
    results["torch_mlp_256"] = {
        "fit_seconds": mlp_seconds,
        "epochs": epochs,
        **scores(y_test, [classes[i] for i in predicted]),
    }
    results["torch_threads"] = torch.get_num_threads()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
