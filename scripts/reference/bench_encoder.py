"""PyTorch side of `cargo xtask bench encoder`: the same workload as `bertcls bench encoder`.

Tokenizes DATA (a .jsonl of {"text", optional "text_b"}) with the model's tokenizer.json,
truncated at --max-len, and times the encoder forward pass plus masked mean pooling,
fp32, on --threads threads, in two workloads:

- fixed: the first --batch-size documents whose tokens fill --max-len, one full batch,
  run --repeats times after a warm-up; the median is reported;
- sorted: every document, shortest to longest (a stable sort, as ours), in batches of
  --batch-size padded to their longest member, after a warm-up batch.

It also times a [4096, 384] x [384, 1536] matmul, the machine's matmul rate for these
shapes. Prints one JSON object.
"""

import argparse
import json
import resource
import statistics
import time

import torch
from transformers import AutoModel, AutoTokenizer


def pooled(model, batch, pad_id):
    longest = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    token_types = torch.zeros((len(batch), longest), dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, (ids, types) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        token_types[row, : len(ids)] = torch.tensor(types)
        mask[row, : len(ids)] = 1
    hidden = model(input_ids=input_ids, attention_mask=mask, token_type_ids=token_types).last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return ((hidden * weights).sum(1) / weights.sum(1)).numpy()


def median_seconds(run, repeats):
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model).eval()
    records = [json.loads(line) for line in open(args.data) if line.strip()]
    firsts = [r["text"] for r in records]
    seconds = [r.get("text_b") for r in records]
    if any(s is not None for s in seconds):
        encoded = tokenizer(firsts, [s or "" for s in seconds], truncation=True, max_length=args.max_len)
    else:
        encoded = tokenizer(firsts, truncation=True, max_length=args.max_len)
    docs = list(zip(encoded["input_ids"], encoded["token_type_ids"]))

    matrix = torch.randn(4096, 384)
    weight = torch.randn(384, 1536)
    matmul_seconds = median_seconds(lambda: torch.matmul(matrix, weight), args.repeats)

    full = [d for d in docs if len(d[0]) == args.max_len][: args.batch_size]
    if len(full) < args.batch_size:
        raise SystemExit(f"only {len(full)} documents fill {args.max_len} tokens; need {args.batch_size}")
    with torch.inference_mode():
        fixed_seconds = median_seconds(lambda: pooled(model, full, tokenizer.pad_token_id), args.repeats)

        order = sorted(range(len(docs)), key=lambda i: len(docs[i][0]))
        batches = [[docs[i] for i in order[k : k + args.batch_size]] for k in range(0, len(order), args.batch_size)]
        pooled(model, batches[-1], tokenizer.pad_token_id)
        start = time.perf_counter()
        for batch in batches:
            pooled(model, batch, tokenizer.pad_token_id)
        sorted_seconds = time.perf_counter() - start

    print(json.dumps({
        "implementation": f"PyTorch {torch.__version__}, transformers, {model.config._attn_implementation} attention",
        "threads": torch.get_num_threads(),
        "matmul_4096x384x1536_seconds": matmul_seconds,
        "fixed": {"sequences": args.batch_size, "tokens": args.batch_size * args.max_len, "seconds": fixed_seconds},
        "sorted": {
            "sequences": len(docs),
            "tokens": sum(len(d[0]) for d in docs),
            "padded_tokens": sum(len(b) * max(len(d[0]) for d in b) for b in batches),
            "seconds": sorted_seconds,
        },
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
