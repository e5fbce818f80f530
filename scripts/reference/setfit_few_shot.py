"""The `setfit` reference for contrastive tuning (`bertcls finetune --contrastive`,
the comparison's "contrastive (SetFit)" model), run on a comparison's own splits.

For each comparison given (its results.json, typically one per seed of a few-shot
draw), SetFit 1.2 with the same model, the same training records, max_len, seed and
number of pairs:
- pairs as `setfit.sampler.ContrastiveDataset` with num_iterations draws them (which
  `joint::draw_pairs` ports): 2 x N x examples pairs, half of them of one label;
- CosineSimilarityLoss on the mean-pooled embeddings, 1 epoch, batch 16, body rate
  2e-5 with 10% linear warm-up then linear decay (SetFit's defaults, which
  `joint::setfit_recipe` ports);
- then SetFit's head: scikit-learn's LogisticRegression on the tuned embeddings of
  the training records (bertcls instead ranks the sweep's linear heads on the
  validation split, which SetFit does not read).
Differences that remain: the pairs' shuffles and the dropout masks come from other
generators. Prints one JSON object: per comparison, the test macro-F1 and accuracy
and the training seconds (contrastive tuning plus the head); and, where the
comparison saved its contrastive model, SetFit's head fitted on bertcls's tuned
encoder (`setfit_head_on_bertcls_body`), which tells the two halves apart: how the
encoders were tuned, and how the head was chosen.

Usage: setfit_few_shot.py MODEL_DIR RESULTS_JSON... [--pair-iterations N]
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from setfit import SetFitModel, Trainer, TrainingArguments  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from transformers import AutoTokenizer, BertModel  # noqa: E402


def records(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def mean_pooled(encoder, tokenizer, texts, max_len):
    """The L2-normalised mean of the final states, as the sentence-transformers body
    of all-MiniLM-L6-v2 (Transformer, Pooling, Normalize) embeds."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(
                texts[start : start + 64],
                truncation=True,
                max_length=max_len,
                padding=True,
                return_tensors="pt",
            )
            states = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            mean = (states * mask).sum(1) / mask.sum(1)
            rows.append(torch.nn.functional.normalize(mean, dim=-1))
    return torch.cat(rows).numpy()


def setfit_head_on(folder, train, test, labels, max_len):
    """SetFit's head (LogisticRegression on normalised embeddings) fitted on the
    encoder a bertcls classifier folder holds, scored on the test records."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = BertModel.from_pretrained(folder, add_pooling_layer=False).eval()
    embed = lambda rows: mean_pooled(encoder, tokenizer, [r["text"] for r in rows], max_len)  # noqa: E731
    head = LogisticRegression().fit(embed(train), [r["label"] for r in train])
    predicted = head.predict(embed(test))
    truth = [r["label"] for r in test]
    return f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)


def run(model_dir, results_path, pair_iterations):
    with open(results_path, encoding="utf-8") as f:
        comparison = json.load(f)
    files = {entry["split"]: entry["path"] for entry in comparison["data"]["files"]}
    seed = comparison["settings"]["seeds"][0]
    max_len = comparison["settings"]["max_len"]
    train, test = records(files["train"]), records(files["test"])
    labels = sorted({r["label"] for r in train})
    torch.manual_seed(seed)
    model = SetFitModel.from_pretrained(model_dir, labels=labels)
    model.model_body.max_seq_length = max_len
    # Its checkpoints go to a scratch folder, not the working directory.
    scratch = tempfile.mkdtemp(prefix="setfit-reference-")
    args = TrainingArguments(
        output_dir=scratch,
        save_strategy="no",
        batch_size=16,
        num_epochs=1,
        body_learning_rate=2e-5,
        num_iterations=pair_iterations,
        seed=seed,
        report_to="none",
        show_progress_bar=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(
            {"text": [r["text"] for r in train], "label": [r["label"] for r in train]}
        ),
    )
    started = time.perf_counter()
    # The trainer logs its losses to standard output, where the result goes.
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train()
    train_seconds = time.perf_counter() - started
    predicted = [str(p) for p in model.predict([r["text"] for r in test])]
    truth = [r["label"] for r in test]
    ours = os.path.join(os.path.dirname(results_path), "contrastive", f"seed-{seed}", "model")
    return {
        "setfit_head_on_bertcls_body": (
            setfit_head_on(ours, train, test, labels, max_len) if os.path.isdir(ours) else None
        ),
        "results": results_path,
        "seed": seed,
        "train_records": len(train),
        "pairs": 2 * pair_iterations * len(train),
        "max_len": max_len,
        "test_macro_f1": f1_score(truth, predicted, labels=labels, average="macro", zero_division=0),
        "test_accuracy": accuracy_score(truth, predicted),
        "train_seconds": train_seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("results", nargs="+", help="a comparison's results.json")
    parser.add_argument("--pair-iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = [run(args.model, path, args.pair_iterations) for path in args.results]
    print(
        json.dumps(
            {
                "setfit": __import__("setfit").__version__,
                "torch": torch.__version__,
                "pair_iterations": args.pair_iterations,
                "runs": runs,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
