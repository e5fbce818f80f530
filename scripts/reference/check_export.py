"""Checks that transformers reads a classifier saved by `bertcls finetune` and
computes the same probabilities; with --write, records them as the fixture the Rust
test `transformers_reads_our_export` compares against.

Usage: check_export.py MODEL_DIR [--write]
Inputs: MODEL_DIR/transformers-inputs.json ([[text, text_b or null], ...]).
Output: MODEL_DIR/transformers-probabilities.json (with --write), else a comparison
against that file, exiting non-zero on a mismatch above 1e-5.
"""

import json
import os
import pathlib
import sys

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402


def main(model_dir, write):
    model_dir = pathlib.Path(model_dir)
    inputs = json.loads((model_dir / "transformers-inputs.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager")
    model.eval()
    rows = []
    with torch.no_grad():
        for text, text_b in inputs:
            batch = tokenizer(text, text_b, truncation="longest_first", max_length=32, return_tensors="pt")
            rows.append(torch.softmax(model(**batch).logits[0], -1).tolist())
    result = {"labels": [model.config.id2label[i] for i in range(len(model.config.id2label))], "probabilities": rows}
    path = model_dir / "transformers-probabilities.json"
    if write:
        path.write_text(json.dumps(result, indent=1))
        print(f"wrote {path}")
        return
    expected = json.loads(path.read_text())
    worst = max(abs(a - b) for r, e in zip(rows, expected["probabilities"]) for a, b in zip(r, e))
    print(f"max abs difference {worst:.2e}")
    sys.exit(0 if worst < 1e-5 else 1)


if __name__ == "__main__":
    main(sys.argv[1], "--write" in sys.argv[2:])
