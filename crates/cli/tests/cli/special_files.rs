//! Standard input, standard output, pipes, devices and a full file system, as inputs
//! and outputs of the commands that succeed with them: reading from standard input
//! or a pipe gives byte for byte what reading the file gives, and writing to a
//! device or a pipe writes what a file would hold. (What they refuse is in
//! `bad_input.rs`.)

use crate::common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{bertcls, embedded_topics, finetune_briefly, tiny_model};

/// Runs the binary in `dir` with `args`, `stdin` on its standard input.
fn run_with_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bertcls"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        output.status.success(),
        "bertcls {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `bertcls predict` with the model `run`, reading `input` (or plain lines on
/// standard input), writing `output`.
fn predict(dir: &Path, run: &str, input: Option<&str>, output: &str, stdin: &[u8]) -> Output {
    let mut args = vec!["predict", "--model", run, "--output", output];
    args.extend(input.iter().flat_map(|input| ["--input", input]));
    run_with_stdin(dir, &args, stdin)
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A named pipe at `path`, or `None` where `mkfifo` cannot make one.
fn fifo(path: &Path) -> Option<PathBuf> {
    let made = Command::new("mkfifo").arg(path).status();
    made.is_ok_and(|s| s.success()).then(|| path.to_owned())
}

/// A fine-tuned run, a head and their data, in one folder.
struct Fixtures {
    dir: tempfile::TempDir,
    run: PathBuf,
    head: PathBuf,
    valid: PathBuf,
}

fn fixtures() -> Fixtures {
    let dir = tempfile::tempdir().unwrap();
    let topics = embedded_topics(dir.path(), 10);
    let run = dir.path().join("run");
    finetune_briefly(
        &[],
        &[
            ("--model", &tiny_model()),
            ("--train", &topics.train),
            ("--valid", &topics.valid),
            ("--out", &run),
        ],
    );
    let head = dir.path().join("h.head");
    bertcls(
        &["head", "train", "--epochs", "2"],
        &[
            ("--train", &topics.train_cache),
            ("--valid", &topics.valid_cache),
            ("--out", &head),
        ],
    );
    Fixtures {
        run: run.join("model"),
        head,
        valid: topics.valid,
        dir,
    }
}

#[test]
fn standard_input_gives_every_output_what_the_file_gives() {
    let f = fixtures();
    let dir = f.dir.path();
    let valid_bytes = std::fs::read(&f.valid).unwrap();
    let (run, head, valid) = (
        f.run.to_str().unwrap(),
        f.head.to_str().unwrap(),
        f.valid.to_str().unwrap(),
    );
    let model = tiny_model();
    let model = model.to_str().unwrap();
    // Each command twice: reading the file, then `-` with the file on standard input;
    // `OUT` stands for the output path, which differs.
    let commands: Vec<(&str, Vec<&str>)> = vec![
        (
            "p.jsonl",
            vec![
                "predict", "--model", run, "--input", "IN", "--output", "OUT",
            ],
        ),
        (
            "r.json",
            vec!["evaluate", "--model", run, "--input", "IN", "--json", "OUT"],
        ),
        (
            "h.jsonl",
            vec![
                "head", "predict", "--head", head, "--input", "IN", "--output", "OUT",
            ],
        ),
        (
            "a.jsonl",
            vec![
                "augment", "--input", "IN", "--typo", "0.2", "--output", "OUT",
            ],
        ),
        (
            "v.npy",
            vec![
                "embed",
                "--model",
                model,
                "--max-len",
                "16",
                "--input",
                "IN",
                "--cache-dir",
                "caches",
                "--export-npy",
                "OUT",
            ],
        ),
    ];
    for (name, args) in &commands {
        let with = |input: &str, output: &str| -> Vec<String> {
            args.iter()
                .map(|a| match *a {
                    "IN" => input.to_owned(),
                    "OUT" => output.to_owned(),
                    other => other.to_owned(),
                })
                .collect()
        };
        let from_file = format!("file-{name}");
        let from_stdin = format!("stdin-{name}");
        run_with_stdin(dir, &as_strs(&with(valid, &from_file)), b"");
        run_with_stdin(dir, &as_strs(&with("-", &from_stdin)), &valid_bytes);
        let (a, b) = (
            std::fs::read(dir.join(&from_file)).unwrap(),
            std::fs::read(dir.join(&from_stdin)).unwrap(),
        );
        assert!(!a.is_empty(), "{name}");
        assert_eq!(
            a, b,
            "{name}: standard input gave another output than the file"
        );
    }
    // Standard input's cache is the file's: the same content has the same fingerprint.
    let caches: Vec<_> = std::fs::read_dir(dir.join("caches"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(caches.len(), 2, "{caches:?}");
    let fingerprint = |name: &str| name.rsplit('-').next().unwrap().to_owned();
    assert_eq!(
        fingerprint(&caches[0]),
        fingerprint(&caches[1]),
        "{caches:?}"
    );

    // Plain lines on standard input, one text each, with --output: written there, as
    // the same texts in a file without ids (named by their line, as lines are) are.
    let texts: Vec<String> = common::read_jsonl(&f.valid)
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    let plain = texts.join("\n") + "\n";
    let unnamed: String = texts
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string() + "\n")
        .collect();
    std::fs::write(dir.join("unnamed.jsonl"), unnamed).unwrap();
    let predict = |input, output, stdin: &[u8]| predict(dir, run, input, output, stdin);
    predict(None, "lines.jsonl", plain.as_bytes());
    predict(Some("unnamed.jsonl"), "file.jsonl", b"");
    let from_file = std::fs::read(dir.join("file.jsonl")).unwrap();
    assert_eq!(std::fs::read(dir.join("lines.jsonl")).unwrap(), from_file);
    // `-` is standard output; /dev/null takes everything.
    assert_eq!(predict(None, "-", plain.as_bytes()).stdout, from_file);
    let printed = predict(Some("unnamed.jsonl"), "/dev/null", b"");
    assert!(printed.stdout.is_empty());
}

#[test]
fn named_pipes_are_read_and_written_in_place() {
    let f = fixtures();
    let dir = f.dir.path();
    let Some(input) = fifo(&dir.join("in.jsonl")) else {
        eprintln!("skipped: mkfifo cannot make a named pipe here");
        return;
    };
    let output = fifo(&dir.join("out.jsonl")).unwrap();
    let run = f.run.to_str().unwrap();
    let valid_bytes = std::fs::read(&f.valid).unwrap();
    let writer = {
        let input = input.clone();
        std::thread::spawn(move || std::fs::write(input, valid_bytes).unwrap())
    };
    let reader = {
        let output = output.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            std::fs::File::open(output)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            bytes
        })
    };
    predict(dir, run, Some("in.jsonl"), "out.jsonl", b"");
    writer.join().unwrap();
    let through_pipes = reader.join().unwrap();
    predict(dir, run, f.valid.to_str(), "p.jsonl", b"");
    assert_eq!(through_pipes, std::fs::read(dir.join("p.jsonl")).unwrap());
    // The pipes are still pipes: nothing was renamed over them.
    for pipe in [&input, &output] {
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::symlink_metadata(pipe)
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }
}

/// A tmpfs of `size` mounted at `dir` (unmounted when dropped), where this process
/// may mount one (root).
struct SmallFileSystem(PathBuf);

impl SmallFileSystem {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status();
        mounted
            .is_ok_and(|s| s.success())
            .then(|| Self(dir.to_owned()))
    }
}

impl Drop for SmallFileSystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_file_system_is_an_error_naming_the_output_and_leaves_nothing() {
    let f = fixtures();
    let dir = f.dir.path();
    let full = dir.join("full");
    let Some(_mounted) = SmallFileSystem::mount(&full, "64k") else {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    };
    // Fill it: files can still be created (tmpfs counts inodes apart), not written.
    let filler = full.join("user-file");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![7u8; 4096];
    while file
        .write_all(&block)
        .and_then(|()| file.sync_all())
        .is_ok()
    {}
    drop(file);
    let filler_bytes = std::fs::read(&filler).unwrap();
    let run = f.run.to_str().unwrap();
    let head = f.head.to_str().unwrap();
    let valid = f.valid.to_str().unwrap();
    let model = tiny_model();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "predict",
            "--model",
            run,
            "--input",
            valid,
            "--output",
            "full/p.jsonl",
        ],
        vec![
            "evaluate",
            "--model",
            run,
            "--input",
            valid,
            "--json",
            "full/r.json",
        ],
        vec![
            "embed",
            "--model",
            model.to_str().unwrap(),
            "--max-len",
            "16",
            "--input",
            valid,
            "--output",
            "full/x.emb",
        ],
        vec![
            "head",
            "predict",
            "--head",
            head,
            "--input",
            valid,
            "--output",
            "full/h.jsonl",
        ],
    ];
    for args in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_bertcls"))
            .args(&args)
            .current_dir(dir)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(
            errors[0].contains("full/") && errors[0].contains("No space left"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(&full)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["user-file"], "{args:?} left files behind");
        assert_eq!(std::fs::read(&filler).unwrap(), filler_bytes);
    }
}
