"""The PyTorch reference for end-to-end fine-tuning (`cargo xtask bench finetune`).

The recipe of `bertcls finetune` with its defaults, in transformers + PyTorch on the
CPU, float32:
- BertForSequenceClassification ([CLS] through the pooler, dropout, one linear layer);
- AdamW (betas 0.9/0.999, eps 1e-8), weight decay 0.01 except on biases and LayerNorm;
- linear warm-up over 10% of the steps from lr/warmup to the peak, then linear decay
  to 0 (our schedule: the first step already has a non-zero rate);
- gradients clipped to global norm 1.0; batch 16; max_len 128; 3 epochs;
- the very same batches in the same order: length-bucketed (buckets of 50 batches)
  with our SplitMix64-derived shuffles, ported below;
- evaluation on validation after each epoch, the epoch of lowest validation loss kept,
  then the test set.
Only the initial classifier weights and the dropout masks come from a different
generator. Prints one JSON object.

With --problem-type regression (a number per record) or multi_label_classification (a
list of labels per record), the model is transformers' own for that problem type: one
output with MSE, or a sigmoid per label with binary cross-entropy (decided at 0.5);
the epoch of lowest validation loss is kept as before, and the scores are the task's
(Pearson, Spearman, RMSE; micro- and macro-F1).

Usage: finetune.py MODEL_DIR DATA_DIR [--epochs N] [--max-steps N] [--problem-type T]
       finetune.py MODEL_DIR DATA_DIR --step-bench --batch-size B (fixed B × 128 batches)
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
from transformers import AutoTokenizer, BertForSequenceClassification  # noqa: E402

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next_u64() * n) >> 64

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def derived_seed(seed, stream, index):
    mixed = SplitMix64(seed ^ ((stream * 0xA0761D6478BD642F) & MASK)).next_u64()
    return SplitMix64(mixed ^ ((index * 0xE7037ED1A0B428DB) & MASK)).next_u64()


def epoch_batches(lengths, batch_size, bucket_batches, seed, epoch):
    """crates/joint/src/batches.rs, line for line."""
    rng = SplitMix64(derived_seed(seed, 1, epoch))
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    bucket = batch_size * bucket_batches
    for start in range(0, len(order), bucket):
        chunk = sorted(order[start : start + bucket], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def read(path):
    rows = [json.loads(line) for line in open(path)]
    return [(r["text"], r.get("text_b")) for r in rows], [r.get("label") for r in rows]


def encode(tokenizer, texts, max_len):
    encoded = [tokenizer(a, b, truncation="longest_first", max_length=max_len) for a, b in texts]
    return [e["input_ids"] for e in encoded], [e["token_type_ids"] for e in encoded]


def collate(ids, types, rows, pad_to=None):
    width = pad_to or max(len(ids[i]) for i in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    token_types = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for r, i in enumerate(rows):
        n = len(ids[i])
        input_ids[r, :n] = torch.tensor(ids[i])
        token_types[r, :n] = torch.tensor(types[i])
        mask[r, :n] = 1
    return {"input_ids": input_ids, "token_type_ids": token_types, "attention_mask": mask}


def optimizer_for(model, lr, weight_decay):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.999),
        eps=1e-8,
    )


def rate(step, peak, warmup, total):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (1 - (step - warmup) / max(1, total - warmup))


def predict(model, ids, types, batch_size=64, problem="single_label_classification"):
    """Class probabilities, per-label probabilities or values, by problem type."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    probs = [None] * len(ids)
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            logits = model(**collate(ids, types, rows)).logits
            p = {
                "regression": lambda: logits[:, 0],
                "multi_label_classification": lambda: torch.sigmoid(logits),
            }.get(problem, lambda: torch.softmax(logits, -1))()
            for r, i in enumerate(rows):
                probs[i] = p[r]
    model.train()
    return torch.stack(probs)


def scores(probs, truth):
    from sklearn.metrics import accuracy_score, f1_score

    predicted = probs.argmax(1).tolist()
    loss = -torch.log(probs[torch.arange(len(truth)), torch.tensor(truth)].clamp_min(1e-12)).mean()
    return {
        "accuracy": accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro"),
        "loss": loss.item(),
    }


def regression_scores(values, truth):
    from scipy.stats import pearsonr, spearmanr

    truth = torch.tensor(truth, dtype=torch.float64)
    values = values.double()
    return {
        "pearson": float(pearsonr(truth, values).statistic),
        "spearman": float(spearmanr(truth, values).statistic),
        "rmse": float(((values - truth) ** 2).mean().sqrt()),
        "loss": float(((values - truth) ** 2).mean()),
    }


def multi_label_scores(probs, truth):
    from sklearn.metrics import f1_score

    truth = torch.tensor(truth)
    predicted = (probs >= 0.5).int()
    loss = torch.nn.functional.binary_cross_entropy(probs.clamp(1e-12, 1 - 1e-12), truth.float())
    return {
        "micro_f1": f1_score(truth, predicted, average="micro"),
        "macro_f1": f1_score(truth, predicted, average="macro"),
        "samples_f1": f1_score(truth, predicted, average="samples"),
        "loss": loss.item(),
    }


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_bench(args, tokenizer, classes):
    """Median time of full training steps on a fixed batch of the longest texts."""
    texts, _ = read(f"{args.data}/train.jsonl")
    ids, types = encode(tokenizer, texts, args.max_len)
    rows = sorted(range(len(ids)), key=lambda i: -len(ids[i]))[: args.batch_size]
    batch = collate(ids, types, rows, pad_to=args.max_len)
    labels = torch.tensor([0] * len(rows))
    model = BertForSequenceClassification.from_pretrained(args.model, num_labels=len(classes))
    model.train()
    optimizer = optimizer_for(model, 5e-5, 0.01)
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        loss = model(**batch, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "batch_size": args.batch_size,
        "max_len": args.max_len,
        "step_seconds": times,
        "median_step_seconds": median,
        "steps_per_second": 1 / median,
        "sentences_per_second": args.batch_size / median,
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--step-bench", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--problem-type",
        default="single_label_classification",
        choices=["single_label_classification", "multi_label_classification", "regression"],
    )
    args = parser.parse_args()
    problem = args.problem_type
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    train_texts, train_labels = read(f"{args.data}/train.jsonl")
    if problem == "regression":
        classes = ["value"]
    elif problem == "multi_label_classification":
        classes = sorted({t for tags in train_labels for t in tags})
    else:
        classes = sorted(set(train_labels))
    if args.step_bench:
        print(json.dumps(step_bench(args, tokenizer, classes)))
        return
    index = {c: i for i, c in enumerate(classes)}
    valid_texts, valid_labels = read(f"{args.data}/validation.jsonl")
    test_texts, test_labels = read(f"{args.data}/test.jsonl")
    train_ids, train_types = encode(tokenizer, train_texts, args.max_len)
    valid_ids, valid_types = encode(tokenizer, valid_texts, args.max_len)
    test_ids, test_types = encode(tokenizer, test_texts, args.max_len)
    if problem == "regression":
        target, score = float, regression_scores
        label_dtype = torch.float32
    elif problem == "multi_label_classification":
        def target(tags):
            return [1.0 if c in tags else 0.0 for c in classes]
        score = multi_label_scores
        label_dtype = torch.float32
    else:
        target, score = index.__getitem__, scores
        label_dtype = torch.long
    y_train = [target(c) for c in train_labels]
    y_valid = [target(c) for c in valid_labels]
    y_test = [target(c) for c in test_labels]

    model = BertForSequenceClassification.from_pretrained(
        args.model,
        num_labels=len(classes),
        id2label=dict(enumerate(classes)),
        label2id=index,
        problem_type=problem,
    )
    model.train()
    optimizer = optimizer_for(model, args.lr, 0.01)
    lengths = [len(i) for i in train_ids]
    steps_per_epoch = -(-len(train_ids) // args.batch_size)
    total = steps_per_epoch * args.epochs
    warmup = round(0.1 * total)
    step, trained, train_seconds = 0, 0, 0.0
    history, best, best_state = [], None, None
    for epoch in range(args.epochs):
        loss_sum = 0.0
        for rows in epoch_batches(lengths, args.batch_size, 50, args.seed, epoch):
            if args.max_steps is not None and step >= args.max_steps:
                break
            start = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = rate(step, args.lr, warmup, total)
            batch = collate(train_ids, train_types, rows)
            labels = torch.tensor([y_train[i] for i in rows], dtype=label_dtype)
            loss = model(**batch, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            train_seconds += time.perf_counter() - start
            loss_sum += loss.item() * len(rows)
            trained += len(rows)
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{total} loss {loss.item():.4f} {trained / train_seconds:.1f} docs/s", file=sys.stderr)
        valid = score(predict(model, valid_ids, valid_types, problem=problem), y_valid)
        history.append({"epoch": epoch + 1, "step": step, "train_loss": loss_sum / len(train_ids), **{f"valid_{k}": v for k, v in valid.items()}})
        print(json.dumps(history[-1]), file=sys.stderr)
        if best is None or valid["loss"] < best["loss"]:
            best = valid
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    start = time.perf_counter()
    test = score(predict(model, test_ids, test_types, problem=problem), y_test)
    test_seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "problem_type": problem,
                "max_len": args.max_len,
                "seed": args.seed,
                "epochs": args.epochs,
                "steps": step,
                "history": history,
                "test": test,
                "train_seconds": train_seconds,
                "train_docs_per_second": trained / train_seconds,
                "test_docs_per_second": len(test_ids) / test_seconds,
                "peak_rss_mib": peak_rss_mib(),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
