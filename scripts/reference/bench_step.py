"""PyTorch side of `cargo xtask bench step`: the same workload as `bertcls bench step`.

For each batch size, the median time of a full fine-tuning step of
BertForSequenceClassification (BERT + pooler + dropout + linear layer, training mode):
forward, cross-entropy, backward, clip_grad_norm_(1.0), AdamW (lr 5e-5, weight decay
0.01 on weights, none on biases and LayerNorm). The batch is the first texts of DATA
whose tokens fill --max-len, so it has no padding. Prints one JSON object.
"""

import argparse
import json
import resource
import statistics
import time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--batch-sizes", default="16,32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)

    records = [json.loads(line) for line in open(args.data) if line.strip()]
    labels = sorted({r["label"] for r in records})
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=len(labels))
    model.train()
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=5e-5, eps=1e-8
    )

    encoded = tokenizer([r["text"] for r in records], truncation=True, max_length=args.max_len)
    full = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) == args.max_len]

    def step(input_ids, targets):
        optimizer.zero_grad(set_to_none=True)
        logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                       token_type_ids=torch.zeros_like(input_ids)).logits
        torch.nn.functional.cross_entropy(logits, targets).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    steps = []
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        rows = full[:batch_size]
        if len(rows) < batch_size:
            raise SystemExit(f"only {len(rows)} texts fill {args.max_len} tokens; need {batch_size}")
        input_ids = torch.tensor([encoded["input_ids"][i] for i in rows])
        targets = torch.tensor([labels.index(records[i]["label"]) for i in rows])
        step(input_ids, targets)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            step(input_ids, targets)
            times.append(time.perf_counter() - start)
        steps.append({"batch_size": batch_size, "tokens": batch_size * args.max_len, "seconds": statistics.median(times)})

    print(json.dumps({
        "implementation": f"PyTorch {torch.__version__}, transformers, {model.config._attn_implementation} attention",
        "threads": torch.get_num_threads(),
        "steps": steps,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
