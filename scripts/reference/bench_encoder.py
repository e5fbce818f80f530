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

--engine picks what runs the encoder: PyTorch (default), or ONNX Runtime on the model
exported to ONNX (fp32), or on that export's int8 `quantize_dynamic` (QInt8 weights, the
activations quantised per tensor at run time): the engines a user would reach for
instead. The exports are written once into --onnx-dir.
"""

import argparse
import json
import resource
import statistics
import time

import torch
from transformers import AutoModel, AutoTokenizer


def padded(batch, pad_id):
    """input_ids, attention_mask and token_type_ids of a batch, padded to its longest."""
    longest = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    token_types = torch.zeros((len(batch), longest), dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, (ids, types) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        token_types[row, : len(ids)] = torch.tensor(types)
        mask[row, : len(ids)] = 1
    return input_ids, mask, token_types


def mean_pooled(hidden, mask):
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return ((hidden * weights).sum(1) / weights.sum(1)).numpy()


class LastHiddenState(torch.nn.Module):
    """BertModel with positional inputs and one output, as the ONNX exporter wants it
    (transformers' forward no longer takes the three inputs positionally)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def onnx_encoder(model_dir, onnx_dir, int8, threads):
    """An ONNX Runtime session on the exported model (and its int8 quantisation), and a
    function running it on a padded batch."""
    import os

    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    os.makedirs(onnx_dir, exist_ok=True)
    fp32_path = os.path.join(onnx_dir, "model.onnx")
    if not os.path.exists(fp32_path):
        model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
        sample = padded([([101, 7592, 102], [0, 0, 0])] * 2, 0)
        axes = {0: "batch", 1: "sequence"}
        torch.onnx.export(
            LastHiddenState(model), sample, fp32_path + ".partial",
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                          "last_hidden_state": axes},
            opset_version=17, dynamo=False,
        )
        os.replace(fp32_path + ".partial", fp32_path)
    path = fp32_path
    if int8:
        path = os.path.join(onnx_dir, "model-int8.onnx")
        if not os.path.exists(path):
            quantize_dynamic(fp32_path, path + ".partial", weight_type=QuantType.QInt8)
            os.replace(path + ".partial", path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(input_ids, mask, token_types):
        feed = {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy(),
                "token_type_ids": token_types.numpy()}
        return torch.from_numpy(session.run(["last_hidden_state"], feed)[0])

    kind = "int8 quantize_dynamic (QInt8)" if int8 else "fp32"
    return run, f"ONNX Runtime {ort.__version__} {kind}"


def pooled(encode, batch, pad_id):
    input_ids, mask, token_types = padded(batch, pad_id)
    return mean_pooled(encode(input_ids, mask, token_types), mask)


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
    parser.add_argument("--engine", choices=["torch", "onnx-fp32", "onnx-int8"], default="torch")
    parser.add_argument("--onnx-dir", default="target/onnx-minilm")
    parser.add_argument("--vectors", help="also write the sorted pass's mean-pooled vectors, in DATA's order, to this .npy")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if args.engine == "torch":
        model = AutoModel.from_pretrained(args.model).eval()
        implementation = f"PyTorch {torch.__version__}, transformers, {model.config._attn_implementation} attention"

        def encode(input_ids, mask, token_types):
            return model(input_ids=input_ids, attention_mask=mask, token_type_ids=token_types).last_hidden_state
    else:
        encode, implementation = onnx_encoder(args.model, args.onnx_dir, args.engine == "onnx-int8", args.threads)
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
        fixed_seconds = median_seconds(lambda: pooled(encode, full, tokenizer.pad_token_id), args.repeats)

        order = sorted(range(len(docs)), key=lambda i: len(docs[i][0]))
        batches = [[docs[i] for i in order[k : k + args.batch_size]] for k in range(0, len(order), args.batch_size)]
        pooled(encode, batches[-1], tokenizer.pad_token_id)
        start = time.perf_counter()
        vectors = [pooled(encode, batch, tokenizer.pad_token_id) for batch in batches]
        sorted_seconds = time.perf_counter() - start
    if args.vectors:
        import numpy

        in_order = numpy.empty((len(docs), vectors[0].shape[1]), dtype=numpy.float32)
        in_order[order] = numpy.concatenate(vectors)
        numpy.save(args.vectors, in_order)

    print(json.dumps({
        "implementation": implementation,
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
