//! Bad inputs and flag values through the binary, as a new user would give them:
//! each must fail with exit status 1 and one `error:` line naming the file or flag,
//! never a panic or a backtrace (`RUST_BACKTRACE` is set), and must leave every
//! file of the folder it ran in as it was (sentinel files, byte for byte), with no
//! temporary or staging file of its own left behind.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bertcls, finetune_briefly, tiny_model, topic_file};
use testkit::copy_dir;

/// One bad input: the command line (paths relative to the work folder) and what
/// its error line must say.
struct Case {
    name: &'static str,
    args: Vec<String>,
    says: Vec<&'static str>,
    /// What the command may add before it fails (a cache built before its export
    /// is refused, say).
    may_add: Option<&'static str>,
    /// What it reads on standard input (nothing: an empty stream).
    stdin: Option<Vec<u8>>,
}

/// The address space every case runs in, in KiB (`ulimit -v`): what the tiny model's
/// commands need, several times over, and far below what reading an endless input
/// whole would take, so that such a read fails the case instead of swapping.
const ADDRESS_SPACE_KIB: u64 = 4 << 20;

/// Runs the binary in `dir` with `args` under [`ADDRESS_SPACE_KIB`], `stdin` on its
/// standard input, `RUST_BACKTRACE` set.
fn run_limited(dir: &Path, args: &[String], stdin: Option<&[u8]>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_bertcls"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.unwrap_or_default().to_vec();
    // A command that fails before reading all of it closes the pipe: not an error here.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// Every file under `dir` (relative path → content), to compare before and after.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.insert(path.strip_prefix(dir).unwrap().to_owned(), Vec::new());
                stack.push(path);
            } else if !path.is_file() {
                // A named pipe: reading it would wait for a writer. Its kind is its
                // content here.
                let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
                files.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    format!("{kind:?}").into_bytes(),
                );
            } else {
                let content = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_owned(), content);
            }
        }
    }
    files
}

/// The tiny model with its segment embedding table cut to one row
/// (`type_vocab_size` 1): a BERT that reads single texts only.
fn single_segment_model(dir: &Path) -> PathBuf {
    let model = dir.join("single-segment");
    copy_dir(&tiny_model(), &model);
    let config = model.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("\"type_vocab_size\": 2", "\"type_vocab_size\": 1"),
    )
    .unwrap();
    let path = model.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let (mut new_header, mut new_data) = (serde_json::Map::new(), Vec::new());
    for (name, info) in header {
        if name == "__metadata__" {
            new_header.insert(name, info);
            continue;
        }
        let offsets: Vec<usize> = serde_json::from_value(info["data_offsets"].clone()).unwrap();
        let mut shape: Vec<usize> = serde_json::from_value(info["shape"].clone()).unwrap();
        let mut tensor = &data[offsets[0]..offsets[1]];
        if name == "embeddings.token_type_embeddings.weight" {
            tensor = &tensor[..tensor.len() / shape[0]];
            shape[0] = 1;
        }
        let start = new_data.len();
        new_data.extend_from_slice(tensor);
        new_header.insert(
            name,
            serde_json::json!({"dtype": info["dtype"], "shape": shape, "data_offsets": [start, new_data.len()]}),
        );
    }
    let header = serde_json::to_vec(&new_header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&new_data);
    std::fs::write(&path, out).unwrap();
    model
}

/// Replaces `from` by `to` in a file.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Flips one byte in the middle of a file.
fn flip(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn bad_inputs_fail_with_one_clear_line_and_touch_nothing() {
    let root = tempfile::tempdir().unwrap();
    let fixtures = root.path().join("fixtures");
    std::fs::create_dir(&fixtures).unwrap();
    let model = tiny_model();
    let train = topic_file(&fixtures, "train", 30, 0);
    let valid = topic_file(&fixtures, "valid", 10, 1);
    for (input, cache) in [(&train, "train.emb"), (&valid, "valid.emb")] {
        bertcls(
            &["embed", "--max-len", "16"],
            &[
                ("--model", &model),
                ("--input", input),
                ("--output", &fixtures.join(cache)),
            ],
        );
    }
    bertcls(
        &["head", "train", "--epochs", "3"],
        &[
            ("--train", &fixtures.join("train.emb")),
            ("--valid", &fixtures.join("valid.emb")),
            ("--out", &fixtures.join("r8.head")),
        ],
    );
    finetune_briefly(
        &["--keep-checkpoint", "--eval-every", "1"],
        &[
            ("--model", &model),
            ("--train", &train),
            ("--valid", &valid),
            ("--out", &fixtures.join("run")),
        ],
    );
    // A run that finished (its checkpoint removed, as by default).
    finetune_briefly(
        &[],
        &[
            ("--model", &model),
            ("--train", &train),
            ("--valid", &valid),
            ("--out", &fixtures.join("done")),
        ],
    );
    let single_segment = single_segment_model(&fixtures);

    // The folder every case runs in, with the user's files and the fixtures it may
    // read (copies, so that tampering with one is local to the case).
    let work = root.path().join("work");
    let setup_work = || {
        if work.exists() {
            std::fs::remove_dir_all(&work).unwrap();
        }
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("sentinel.txt"), "the user's own file\n").unwrap();
        std::fs::write(work.join("thesis.tex"), "years of work\n").unwrap();
        std::fs::create_dir(work.join("mine")).unwrap();
        std::fs::write(work.join("mine/notes.txt"), "keep\n").unwrap();
        std::fs::copy(&train, work.join("train.jsonl")).unwrap();
        std::fs::copy(&valid, work.join("valid.jsonl")).unwrap();
        std::fs::write(work.join("other.npy"), b"\x93NUMPY not ours").unwrap();
        std::os::unix::fs::symlink("mine", work.join("link")).unwrap();
        let fifo = Command::new("mkfifo").arg(work.join("pipe")).status();
        assert!(fifo.is_ok_and(|s| s.success()), "mkfifo makes a named pipe");
        for name in ["train.emb", "valid.emb", "r8.head", "run", "done"] {
            copy_dir(&fixtures.join(name), &work.join(name));
        }
    };

    let m = model.to_str().unwrap().to_owned();
    let one_seg = single_segment.to_str().unwrap().to_owned();
    let caches = ["--train", "train.emb", "--valid", "valid.emb"];
    let with = |head: &[&str], tail: &[&str]| -> Vec<String> {
        head.iter().chain(tail).map(|s| s.to_string()).collect()
    };
    let head_train = |extra: &[&str]| {
        let mut a = with(&["head", "train"], &caches);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let finetune = |extra: &[&str]| {
        let mut a = with(
            &[
                "finetune",
                "--max-len",
                "16",
                "--epochs",
                "1",
                "--model",
                &m,
            ],
            &["--train", "train.jsonl", "--valid", "valid.jsonl"],
        );
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let embed = |input: &str, extra: &[&str]| {
        let mut a = with(
            &["embed", "--max-len", "16", "--model", &m, "--input", input],
            &[],
        );
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let own = |name, args: Vec<String>, says: &[&'static str]| Case {
        name,
        args,
        says: says.to_vec(),
        may_add: None,
        stdin: None,
    };

    // Data files with one thing wrong each, written into the work folder by `prepare`.
    type Prepare = Box<dyn Fn(&Path)>;
    let write = |name: &'static str, bytes: Vec<u8>| -> Prepare {
        Box::new(move |work: &Path| std::fs::write(work.join(name), &bytes).unwrap())
    };
    let mut cases: Vec<(Case, Option<Prepare>)> = vec![
        // Outputs that are not bertcls's to replace.
        (own("--out .", head_train(&["--out", "."]), &["--out", "current folder"]), None),
        (own("--out ..", head_train(&["--out", ".."]), &["--out", ".."]), None),
        (own("--out a foreign folder", head_train(&["--out", "mine"]), &["mine", "did not write"]), None),
        (own("--out a file", head_train(&["--out", "thesis.tex"]), &["thesis.tex", "is a file"]), None),
        (own("--out another kind", head_train(&["--out", "valid.emb"]), &["valid.emb", "--force"]), None),
        (own("sweep --out foreign", with(&["head", "sweep", "--epochs", "1"], &caches).into_iter().chain(["--out".into(), "mine".into()]).collect(), &["mine", "did not write"]), None),
        (own("embed --output foreign", embed("train.jsonl", &["--output", "mine"]), &["mine", "did not write"]), None),
        (own("finetune --out foreign", finetune(&["--out", "mine"]), &["mine", "did not write"]), None),
        (own("ensemble --out foreign", with(&["ensemble", "--member", "run", "--out", "mine"], &[]), &["mine", "did not write"]), None),
        (own("predict --output a data file", with(&["predict", "--model", "run", "--input", "valid.jsonl", "--output", "train.jsonl"], &[]), &["--output", "train.jsonl", "not a predictions file"]), None),
        (own("head predict --output a data file", with(&["head", "predict", "--head", "r8.head", "--cache", "valid.emb", "--output", "sentinel.txt"], &[]), &["--output", "sentinel.txt"]), None),
        (own("evaluate --json a user file", with(&["evaluate", "--model", "run", "--input", "valid.jsonl", "--json", "sentinel.txt"], &[]), &["--json", "sentinel.txt"]), None),
        (own("augment --output its input", with(&["augment", "--input", "train.jsonl", "--typo", "0.1", "--output", "train.jsonl"], &[]), &["--output", "train.jsonl"]), None),
        (Case { may_add: Some("x.emb"), ..own("--export-npy over another .npy", embed("train.jsonl", &["--output", "x.emb", "--export-npy", "other.npy"]), &["--export-npy", "other.npy"]) }, None),
        (own("zero-shot --output a user file", with(&["zero-shot", "--cache", "valid.emb", "--output", "thesis.tex"], &[]), &["--output", "thesis.tex"]), None),
        // Flag values.
        (own("head --epochs 0", head_train(&["--epochs", "0", "--out", "h"]), &["--epochs 0"]), None),
        (own("sweep --epochs 0", with(&["head", "sweep", "--epochs", "0"], &caches).into_iter().chain(["--out".into(), "s".into()]).collect(), &["--epochs 0"]), None),
        (own("finetune --epochs 0", finetune(&["--out", "f"]).into_iter().map(|a| if a == "1" { "0".into() } else { a }).collect(), &["--epochs 0"]), None),
        (own("finetune --eval-every 0", finetune(&["--eval-every", "0", "--out", "f"]), &["--eval-every 0"]), None),
        (own("head --dropout 1.5", head_train(&["--hidden", "8", "--dropout", "1.5", "--out", "h"]), &["--dropout 1.5"]), None),
        (own("head --class-weights unknown", head_train(&["--class-weights", "spma=3", "--out", "h"]), &["--class-weights spma=3", "animals, markets"]), None),
        (own("finetune --class-weights unknown", finetune(&["--class-weights", "spma=3", "--out", "f"]), &["--class-weights spma=3"]), None),
        (own("head --lr 0", head_train(&["--lr", "0", "--out", "h"]), &["--lr 0"]), None),
        (own("head --lr -1", head_train(&["--lr=-1", "--out", "h"]), &["--lr -1"]), None),
        (own("finetune --lr 0", finetune(&["--lr", "0", "--out", "f"]), &["--lr 0"]), None),
        (own("head --batch-size 0", head_train(&["--batch-size", "0", "--out", "h"]), &["--batch-size 0"]), None),
        (own("finetune --batch-size 0", finetune(&["--batch-size", "0", "--out", "f"]), &["--batch-size 0"]), None),
        (own("head --patience 0", head_train(&["--patience", "0", "--out", "h"]), &["--patience 0"]), None),
        (own("finetune --patience 0", finetune(&["--patience", "0", "--out", "f"]), &["--patience 0"]), None),
        (own("finetune --warmup-ratio 1", finetune(&["--warmup-ratio", "1", "--out", "f"]), &["--warmup-ratio 1"]), None),
        (own("finetune --dropout 1", finetune(&["--dropout", "1", "--out", "f"]), &["--dropout 1"]), None),
        (own("finetune --freeze-layers 9", finetune(&["--freeze-layers", "9", "--out", "f"]), &["--freeze-layers 9", "2 encoder layers"]), None),
        (own("head --bag 0", head_train(&["--bag", "0", "--out", "h"]), &["--bag 0"]), None),
        (own("head --boost with focal loss", head_train(&["--boost", "2", "--loss", "focal", "--out", "h"]), &["--loss", "cross-entropy"]), None),
        (own("embed --shard beyond the rows", embed("train.jsonl", &["--shard", "0/100", "--output", "s.emb"]), &["--shard", "30 rows"]), None),
        (own("embed --shard i ≥ N", embed("train.jsonl", &["--shard", "3/2", "--output", "s.emb"]), &["--shard", "3/2"]), None),
        (own("embed --chunk-size 0", embed("train.jsonl", &["--chunk-size", "0", "--output", "s.emb"]), &["--chunk-size 0"]), None),
        (own("embed --states-after in int8", embed("train.jsonl", &["--precision", "int8", "--states-after", "1", "--output", "s.emb"]), &["--states-after", "--precision int8", "fp32"]), None),
        (own("embed --precision unknown", embed("train.jsonl", &["--precision", "int4", "--output", "s.emb"]), &["int4", "fp32", "int8"]), None),
        (own("embed --batch-size 0", embed("train.jsonl", &["--batch-size", "0", "--output", "s.emb"]), &["--batch-size 0"]), None),
        (own("predict --max-len past the positions", with(&["predict", "--model", "run", "--max-len", "200", "--input", "valid.jsonl"], &[]), &["max_len 200", "max_position_embeddings 64"]), None),
        (own("evaluate --max-len past the positions", with(&["evaluate", "--model", "run", "--max-len", "200", "--input", "valid.jsonl"], &[]), &["max_len 200", "64"]), None),
        (own("predict --batch-size 0", with(&["predict", "--model", "run", "--batch-size", "0", "--input", "valid.jsonl"], &[]), &["--batch-size 0"]), None),
        (own("predict --precision other than a head's", with(&["predict", "--model", "r8.head", "--precision", "int8", "--input", "valid.jsonl"], &[]), &["r8.head", "fp32 products", "int8", "--precision"]), None),
        (own("ensemble --precision without --evaluate", with(&["ensemble", "--member", "run", "--precision", "bf16", "--out", "e"], &[]), &["--precision bf16", "--evaluate"]), None),
        (own("predict --max-len with a head", with(&["predict", "--model", "r8.head", "--max-len", "20", "--input", "valid.jsonl"], &[]), &["r8.head", "is a head"]), None),
        (own("ensemble --weights negative", with(&["ensemble", "--member", "run", "r8.head", "--weights", "1,-1", "--out", "e"], &[]), &["--weights"]), None),
        // The data split a comparison derives from one file is a cache, reused later.
        (Case { may_add: Some(".cache"), ..own("compare --frontier past the layers", with(&["compare", "--model", &m, "--data", "train.jsonl", "--frontier", "0,3"], &[]), &["--frontier 3", "2 encoder layers"]) }, None),
        (Case { may_add: Some(".cache"), ..own("compare --frontier with an adversary", with(&["compare", "--model", &m, "--data", "train.jsonl", "--adv", "fgm", "--frontier", "1"], &[]), &["--frontier 1", "adversarial training"]) }, None),
        // Resuming into something else.
        (own("resume with other --train", finetune(&["--eval-every", "1", "--out", "run", "--resume"]).into_iter().map(|a| if a == "train.jsonl" { "valid.jsonl".into() } else { a }).collect(), &["run", "training examples"]), None),
        (own("resume with other --max-len", finetune(&["--eval-every", "1", "--out", "run", "--resume"]).into_iter().map(|a| if a == "16" { "6".into() } else { a }).collect(), &["run", "training examples"]), None),
        (own("resume where nothing ran", finetune(&["--out", "fresh", "--resume"]), &["no checkpoint", "fresh"]), None),
        // Saved artifacts, damaged or edited.
        (own("an edited cache", head_train(&["--out", "h"]), &["train.emb", "meta.json has changed"]), Some(Box::new(|w: &Path| edit(&w.join("train.emb/meta.json"), "\"animals\"", "\"markets\""))),),
        (own("a damaged head", with(&["head", "predict", "--head", "r8.head", "--cache", "valid.emb", "--output", "p.jsonl"], &[]), &["r8.head", "weights.bpk has changed"]), Some(Box::new(|w: &Path| flip(&w.join("r8.head/weights.bpk"))))),
        (own("a damaged fine-tuned model", with(&["predict", "--model", "run", "--input", "valid.jsonl"], &[]), &["model.safetensors has changed"]), Some(Box::new(|w: &Path| flip(&w.join("run/model/model.safetensors"))))),
        (own("a damaged checkpoint", finetune(&["--out", "run", "--resume"]), &["checkpoint", "has changed"]), Some(Box::new(|w: &Path| flip(&w.join("run/checkpoint/optimizer.bpk"))))),
        (own("a head.json with a wrong width", with(&["head", "predict", "--head", "r8.head", "--cache", "valid.emb", "--output", "p.jsonl"], &[]), &["r8.head", "standardizer"]), Some(Box::new(|w: &Path| {
            std::fs::remove_file(w.join("r8.head/bertcls-artifact.json")).unwrap();
            edit(&w.join("r8.head/head.json"), "\"dim\": 32", "\"dim\": 31");
        }))),
        (own("an ensemble that lists itself", with(&["predict", "--model", "loop", "--input", "valid.jsonl"], &[]), &["lists itself"]), Some(write_dir("loop/ensemble.json", br#"{"combine": "mean", "labels": ["animals", "markets"], "members": [{"path": ".", "weight": 1.0}]}"#))),
        (own("an ensemble with negative weights", with(&["predict", "--model", "neg", "--input", "valid.jsonl"], &[]), &["neg", "weights"]), Some(write_dir("neg/ensemble.json", br#"{"combine": "mean", "labels": ["animals", "markets"], "members": [{"path": "../run", "weight": -1.0}]}"#))),
        (own("an ensemble file that is not JSON", with(&["predict", "--model", "junk", "--input", "valid.jsonl"], &[]), &["junk", "not an ensemble file"]), Some(write_dir("junk/ensemble.json", b"{ members: oops"))),
        // Data files.
        (own("an empty file", embed("empty.jsonl", &["--output", "x.emb"]), &["empty.jsonl", "no usable records"]), Some(write("empty.jsonl", Vec::new()))),
        (own("a header without rows", embed("header.csv", &["--output", "x.emb"]), &["header.csv", "no usable records"]), Some(write("header.csv", b"id,text,label\n".to_vec()))),
        (own("invalid UTF-8", embed("bad.jsonl", &["--output", "x.emb"]), &["bad.jsonl:2", "UTF-8"]), Some(write("bad.jsonl", [b"{\"text\": \"cat\"}\n{\"text\": \"".to_vec(), vec![0xff, 0xfe], b"\"}\n".to_vec()].concat()))),
        (own("duplicate ids", embed("dup.jsonl", &["--output", "x.emb"]), &["dup.jsonl:2", "used before, on line 1"]), Some(write("dup.jsonl", b"{\"id\": \"a\", \"text\": \"cat\"}\n{\"id\": \"a\", \"text\": \"dog\"}\n".to_vec()))),
        (own("a 50 MB line", embed("long.jsonl", &["--output", "x.emb"]), &["long.jsonl:1", "over the limit"]), Some(write("long.jsonl", format!("{{\"text\": \"{}\"}}\n", "cat ".repeat(50 << 18)).into_bytes()))),
        (own("a wrong text column", embed("cols.csv", &["--output", "x.emb"]), &["cols.csv", "no column \"text\"", "body"]), Some(write("cols.csv", b"body,label\ncat,a\n".to_vec()))),
        (own("a text of zero-width characters", embed("zw.jsonl", &["--output", "x.emb"]), &["zw.jsonl:2", "nothing BERT reads"]), Some(write("zw.jsonl", "{\"text\": \"cat\"}\n{\"text\": \"\u{200b}\u{200d}\u{feff}\"}\n".as_bytes().to_vec()))),
        (own("a pair column no record has", embed("train.jsonl", &["--text-b-col", "hypothesis", "--output", "x.emb"]), &["train.jsonl", "--text-b-col"]), None),
        (own("a record without a label", with(&["evaluate", "--model", "run", "--input", "nolabel.jsonl"], &[]), &["nolabel.jsonl:1", "no label"]), Some(write("nolabel.jsonl", b"{\"text\": \"cat\"}\n".to_vec()))),
        (own("a line that is not JSON", embed("notjson.jsonl", &["--output", "x.emb"]), &["notjson.jsonl:1", "invalid JSON"]), Some(write("notjson.jsonl", b"text: cat\n".to_vec()))),
        (own("an unknown file type", embed("data.txt", &["--output", "x.emb"]), &["data.txt", "unknown format"]), Some(write("data.txt", b"cat\n".to_vec()))),
        // Model folders.
        (own("--model an ordinary folder", with(&["embed", "--model", "mine", "--input", "train.jsonl", "--output", "x.emb"], &[]), &["mine", "not a BERT model folder"]), None),
        (own("a config.json that is not BERT's", with(&["embed", "--model", "gpt", "--input", "train.jsonl", "--output", "x.emb"], &[]), &["gpt", "config.json"]), Some(Box::new(|w: &Path| {
            copy_dir(&tiny_model(), &w.join("gpt"));
            std::fs::write(w.join("gpt/config.json"), r#"{"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4, "vocab_size": 55}"#).unwrap();
        }))),
        (own("a vocabulary larger than vocab_size", with(&["embed", "--model", "bigvocab", "--max-len", "16", "--input", "train.jsonl", "--output", "x.emb"], &[]), &["vocab_size is 55", "do not belong together"]), Some(Box::new(|w: &Path| {
            copy_dir(&tiny_model(), &w.join("bigvocab"));
            let vocab = w.join("bigvocab/vocab.txt");
            let text = std::fs::read_to_string(&vocab).unwrap();
            std::fs::write(&vocab, text + "zebra\nyak\n").unwrap();
        }))),
        (own("pairs for a single-segment model", with(&["embed", "--model", &one_seg, "--max-len", "16", "--input", "pairs.jsonl", "--output", "x.emb"], &[]), &["\"p1\"", "type_vocab_size 1"]), Some(write("pairs.jsonl", b"{\"id\": \"p1\", \"text\": \"cat\", \"text_b\": \"dog\"}\n".to_vec()))),
        (own("truncated weights", with(&["embed", "--model", "cut", "--max-len", "16", "--input", "train.jsonl", "--output", "x.emb"], &[]), &["cut", "model.safetensors"]), Some(Box::new(|w: &Path| {
            copy_dir(&tiny_model(), &w.join("cut"));
            let weights = w.join("cut/model.safetensors");
            let bytes = std::fs::read(&weights).unwrap();
            std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
        }))),
        // Special files as inputs: read in bounded memory, or refused by name.
        (own("embed --input /dev/zero (endless, no newline)", embed("/dev/zero", &["--output", "x.emb"]), &["/dev/zero:1", "over the limit"]), None),
        (own("embed --input /dev/full", embed("/dev/full", &["--output", "x.emb"]), &["/dev/full:1", "over the limit"]), None),
        (own("embed --input a folder", embed("mine", &["--output", "x.emb"]), &["mine", "is a folder"]), None),
        (own("embed --input /dev/null", embed("/dev/null", &["--output", "x.emb"]), &["/dev/null", "no usable records"]), None),
        (Case { stdin: Some(vec![b'{'; 6 << 20]), ..own("embed --input - endless", embed("-", &["--output", "x.emb"]), &["standard input:1", "over the limit"]) }, None),
        (own("evaluate --input /dev/zero", with(&["evaluate", "--model", "run", "--input", "/dev/zero"], &[]), &["/dev/zero:1", "over the limit"]), None),
        (own("head train --train /dev/null", with(&["head", "train", "--train", "/dev/null", "--valid", "valid.emb", "--out", "h"], &[]), &["/dev/null"]), None),
        (own("head predict --cache /dev/zero", with(&["head", "predict", "--head", "r8.head", "--cache", "/dev/zero", "--output", "p.jsonl"], &[]), &["/dev/zero"]), None),
        (own("predict --model /dev/null", with(&["predict", "--model", "/dev/null", "--input", "valid.jsonl"], &[]), &["/dev/null"]), None),
        (own("sweep --grid-file /dev/zero", with(&["head", "sweep"], &caches).into_iter().chain(["--grid-file", "/dev/zero", "--out", "s"].map(String::from)).collect(), &["/dev/zero", "over the limit", "settings file"]), None),
        (own("zero-shot --descriptions /dev/zero", with(&["zero-shot", "--cache", "valid.emb", "--descriptions", "/dev/zero", "--output", "z.jsonl"], &[]), &["/dev/zero", "over the limit"]), None),
        (own("compare --suite /dev/zero", with(&["compare", "--model", &m, "--data", "train.jsonl", "--suite", "/dev/zero"], &[]), &["/dev/zero", "not a .toml file"]), None),
        (own("compare --data /dev/zero", with(&["compare", "--model", &m, "--data", "/dev/zero"], &[]), &["/dev/zero", "not a regular file"]), None),
        (Case { stdin: Some(b"{\"text\": \"cat\", \"label\": \"a\"}\n".to_vec()), ..own("compare --data -", with(&["compare", "--model", &m, "--data", "-"], &[]), &["standard input", "not a regular file"]) }, None),
        // Standard input: plain lines have no columns, and are bounded too.
        (Case { stdin: Some(b"oil prices rose\n".to_vec()), ..own("predict stdin --text-col", with(&["predict", "--model", "run", "--text-col", "body"], &[]), &["--text-col body", "plain lines"]) }, None),
        (Case { stdin: Some(vec![b'a'; 3 << 20]), ..own("predict stdin, an endless line", with(&["predict", "--model", "run", "--output", "p.jsonl"], &[]), &["standard input:1", "over the limit"]) }, None),
        (Case { stdin: Some(b"cat\n\xff\xfe\n".to_vec()), ..own("predict stdin, invalid UTF-8", with(&["predict", "--model", "run", "--output", "p.jsonl"], &[]), &["standard input:2", "UTF-8"]) }, None),
        // Input flags that cannot apply to a cache.
        (own("head predict --cache with --text-col", with(&["head", "predict", "--head", "r8.head", "--cache", "valid.emb", "--text-col", "body", "--output", "p.jsonl"], &[]), &["--text-col body", "cache"]), None),
        (own("head predict --cache with --model", with(&["head", "predict", "--head", "r8.head", "--cache", "valid.emb", "--model", &m, "--output", "p.jsonl"], &[]), &["--model", "cache"]), None),
        (own("ensemble --label-col without --evaluate", with(&["ensemble", "--member", "run", "--label-col", "y", "--out", "e"], &[]), &["--label-col y", "no data file"]), None),
        // Special files as outputs: written in place and checked, or refused.
        (own("predict --output /dev/full", with(&["predict", "--model", "run", "--input", "valid.jsonl", "--output", "/dev/full"], &[]), &["--output", "cannot write /dev/full", "No space left"]), None),
        (Case { stdin: Some(b"oil prices rose\n".to_vec()), ..own("predict stdin --output /dev/full", with(&["predict", "--model", "run", "--output", "/dev/full"], &[]), &["--output", "cannot write /dev/full"]) }, None),
        (own("head predict --output /dev/full", with(&["head", "predict", "--head", "r8.head", "--cache", "valid.emb", "--output", "/dev/full"], &[]), &["cannot write /dev/full"]), None),
        (own("evaluate --json /dev/full", with(&["evaluate", "--model", "run", "--input", "valid.jsonl", "--json", "/dev/full"], &[]), &["--json", "cannot write /dev/full"]), None),
        (own("zero-shot --output /dev/full", with(&["zero-shot", "--cache", "valid.emb", "--output", "/dev/full"], &[]), &["cannot write /dev/full"]), None),
        (own("augment --output /dev/full", with(&["augment", "--input", "train.jsonl", "--typo", "0.1", "--output", "/dev/full"], &[]), &["cannot write /dev/full"]), None),
        (Case { may_add: Some("x.emb"), ..own("embed --export-npy /dev/full", embed("train.jsonl", &["--output", "x.emb", "--export-npy", "/dev/full"]), &["--export-npy", "cannot write /dev/full"]) }, None),
        (own("head train --out /dev/null", head_train(&["--out", "/dev/null"]), &["/dev/null", "a device", "folder"]), None),
        (own("embed --output /dev/null", embed("train.jsonl", &["--output", "/dev/null"]), &["/dev/null", "a device", "folder"]), None),
        (own("finetune --out -", finetune(&["--out", "-"]), &["standard output", "folder"]), None),
        (own("head train --out a named pipe", head_train(&["--out", "pipe"]), &["pipe", "named pipe (FIFO)", "folder"]), None),
        (own("embed --output a named pipe", embed("train.jsonl", &["--output", "pipe"]), &["pipe", "named pipe (FIFO)", "folder"]), None),
        (own("head train --train a named pipe", with(&["head", "train", "--train", "pipe", "--valid", "valid.emb", "--out", "h"], &[]), &["pipe"]), None),
        (own("predict --output a folder", with(&["predict", "--model", "run", "--input", "valid.jsonl", "--output", "mine"], &[]), &["mine", "a folder", "a file"]), None),
        (own("predict --output a link to a user's folder", with(&["predict", "--model", "run", "--input", "valid.jsonl", "--output", "link"], &[]), &["link", "symbolic link"]), None),
        (own("head train --out a link to a user's folder", head_train(&["--out", "link"]), &["link", "symbolic link"]), None),
        // A finished run has nothing to resume, and its model is kept.
        (own("resume a finished run", finetune(&["--out", "done", "--resume"]), &["nothing to resume", "done", "finished", "done/model", "another --out"]), None),
    ];
    assert!(cases.len() >= 70, "{} cases", cases.len());

    let mut failures = Vec::new();
    for (case, prepare) in cases.drain(..) {
        setup_work();
        if let Some(prepare) = &prepare {
            prepare(&work);
        }
        let before = snapshot(&work);
        let output = run_limited(&work, &case.args, case.stdin.as_deref());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        let mut problems = Vec::new();
        if output.status.code() != Some(1) && output.status.code() != Some(2) {
            problems.push(format!("exit status {:?}", output.status));
        }
        if error_lines.len() != 1 {
            problems.push(format!("{} error lines", error_lines.len()));
        }
        for word in &case.says {
            if !error_lines.iter().any(|l| l.contains(word)) {
                problems.push(format!("the error does not say {word:?}"));
            }
        }
        for crash in ["panicked", "backtrace", "RUST_BACKTRACE"] {
            if stderr.contains(crash) {
                problems.push(format!("stderr says {crash:?}"));
            }
        }
        let after = snapshot(&work);
        for (path, content) in &before {
            if after.get(path) != Some(content) {
                problems.push(format!("{} was changed or removed", path.display()));
            }
        }
        let added = after
            .keys()
            .filter(|p| !before.contains_key(*p))
            .filter(|p| case.may_add.is_none_or(|allowed| !p.starts_with(allowed)));
        for path in added {
            let name = path.to_string_lossy();
            if name.contains(".bertcls-") || name.ends_with("bertcls-artifact.json") {
                problems.push(format!("{} was left behind", path.display()));
            }
        }
        // `BERTCLS_SHOW_ERRORS=1 cargo test … bad_input -- --nocapture` lists every
        // message, to read them as a user would.
        if std::env::var_os("BERTCLS_SHOW_ERRORS").is_some() {
            eprintln!("{:<40} {}", case.name, error_lines.join(" | "));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  bertcls {}\n  {}",
                case.name,
                problems.join("; "),
                case.args.join(" "),
                stderr.trim().replace('\n', "\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// Writes `bytes` to `relative` (creating its folder) in the work folder.
fn write_dir(relative: &'static str, bytes: &'static [u8]) -> Box<dyn Fn(&Path)> {
    Box::new(move |work: &Path| {
        let path = work.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    })
}
