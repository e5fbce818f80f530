//! `cargo xtask bench encoder|step`: throughput against PyTorch (and, for the encoder,
//! ONNX Runtime in fp32 and int8) on identical batches.
//!
//! Both sides are separate processes running the same workload (`bertcls bench …` and
//! `scripts/reference/bench_*.py`), one after the other in the same command, so the
//! ratio compares them on this machine under the same conditions. Each prints one JSON
//! object; this side checks that they saw the same tokens, derives rates and the
//! fraction of the matmul rate measured in the same run, and writes
//! `bench/results/NAME-<time>.json`.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::bench::{machine, write_results};
use crate::{build_bertcls, fetch, fetch_data, reference_python};

const MODEL: &str = "models/all-MiniLM-L6-v2";

/// The size of the workload, shared by both sides.
pub struct Workload {
    pub max_len: usize,
    pub batch_sizes: Vec<usize>,
    pub repeats: usize,
    /// Times each side runs, alternating; the median of every number is kept.
    pub rounds: usize,
}

/// Encoder inference on R8's test set: a fixed full batch and the length-sorted pass,
/// ours in `precision` against PyTorch and ONNX Runtime (fp32, and its int8
/// `quantize_dynamic` of the same export).
pub fn encoder(root: &Path, workload: &Workload, precision: &str) -> Result<()> {
    let batch_size = workload.batch_sizes[0].to_string();
    let onnx_dir = root.join("target/onnx-minilm").display().to_string();
    let engine = |name: &'static str, engine: &str| Reference {
        name,
        args: vec![
            "--engine".into(),
            engine.into(),
            "--onnx-dir".into(),
            onnx_dir.clone(),
        ],
        ours: false,
    };
    let mut references = vec![
        engine("PyTorch", "torch"),
        engine("ORT fp32", "onnx-fp32"),
        engine("ORT int8", "onnx-int8"),
    ];
    // A reduced precision is measured against our own fp32 as well, in the same run.
    if precision != "fp32" {
        references.insert(
            0,
            Reference {
                name: "ours fp32",
                args: vec!["--precision".into(), "fp32".into()],
                ours: true,
            },
        );
    }
    let ours_args = ["--precision".to_string(), precision.to_string()];
    let sides = all_sides(
        root,
        "encoder",
        "r8/test.jsonl",
        workload.rounds,
        &ours_args,
        &references,
        |c| {
            c.args(["--max-len", &workload.max_len.to_string()])
                .args(["--batch-size", &batch_size])
                .args(["--repeats", &workload.repeats.to_string()])
        },
    )?;
    let ours = &sides.ours;
    for (name, reference) in &sides.references {
        ensure!(
            ours["sorted"]["tokens"] == reference["sorted"]["tokens"]
                && ours["sorted"]["padded_tokens"] == reference["sorted"]["padded_tokens"],
            "the two sides tokenized differently (ours {} / {} tokens, {name}'s {} / {}): the comparison would not be fair",
            ours["sorted"]["tokens"],
            ours["sorted"]["padded_tokens"],
            reference["sorted"]["tokens"],
            reference["sorted"]["padded_tokens"]
        );
    }

    let model = ModelShape::read(root)?;
    let peak = matmul_peak(std::iter::once(ours).chain(sides.references.iter().map(|(_, r)| r)));
    let fixed_flops = model.forward_flops(workload.max_len) * number(&ours["fixed"]["tokens"]);
    let rates = |side: &Value| {
        let fixed = number(&side["fixed"]["seconds"]);
        let sorted = number(&side["sorted"]["seconds"]);
        json!({
            "fixed_sentences_per_second": number(&side["fixed"]["sequences"]) / fixed,
            "fixed_tokens_per_second": number(&side["fixed"]["tokens"]) / fixed,
            "fixed_gflops": fixed_flops / fixed / 1e9,
            "fixed_fraction_of_matmul_peak": fixed_flops / fixed / 1e9 / peak,
            "sorted_sentences_per_second": number(&side["sorted"]["sequences"]) / sorted,
            "sorted_tokens_per_second": number(&side["sorted"]["tokens"]) / sorted,
            "peak_rss_mib": side["peak_rss_mib"],
        })
    };
    let ours_rates = rates(ours);
    let reference_rates: Vec<(&str, Value)> = sides
        .references
        .iter()
        .map(|(name, r)| (*name, rates(r)))
        .collect();
    println!(
        "\nMiniLM inference, R8 test set, max_len {}, batch {batch_size}, ours in {precision}; matmul rate this run {peak:.0} GFLOP/s\n",
        workload.max_len
    );
    print!("{:<34} {:>9}", "", "ours");
    for (name, _) in &reference_rates {
        print!(" {name:>9} {:>7}", "ours/it");
    }
    println!();
    let row = |label: &str, key: &str, digits: usize| {
        let a = number(&ours_rates[key]);
        print!("{label:<34} {a:>9.digits$}");
        for (_, rates) in &reference_rates {
            let b = number(&rates[key]);
            print!(" {b:>9.digits$} {:>6.2}x", a / b);
        }
        println!();
    };
    row("fixed batch: sentences/s", "fixed_sentences_per_second", 1);
    row("fixed batch: GFLOP/s", "fixed_gflops", 1);
    row("sorted pass: sentences/s", "sorted_sentences_per_second", 1);
    row("sorted pass: tokens/s", "sorted_tokens_per_second", 0);
    row("peak RSS, MiB (lower is better)", "peak_rss_mib", 0);

    let references: serde_json::Map<String, Value> = sides
        .references
        .iter()
        .zip(&reference_rates)
        .map(|((name, raw), (_, rates))| (name.to_string(), json!({"raw": raw, "rates": rates})))
        .collect();
    let results = json!({
        "benchmark": "encoder",
        "machine": machine(),
        "workload": {"model": "all-MiniLM-L6-v2", "data": "r8 test", "max_len": workload.max_len,
                     "batch_size": workload.batch_sizes[0], "repeats": workload.repeats, "rounds": workload.rounds,
                     "precision": precision},
        "matmul_peak_gflops": peak,
        "ours": {"raw": ours, "rates": ours_rates},
        "references": references,
        "rounds": sides.rounds,
    });
    println!(
        "\nresults: {}",
        write_results(root, "encoder", &results)?.display()
    );
    Ok(())
}

/// Full fine-tuning steps on R8 training texts that fill max_len, at each batch size.
pub fn step(root: &Path, workload: &Workload) -> Result<()> {
    let sizes = workload
        .batch_sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let pytorch = [Reference {
        name: "PyTorch",
        args: Vec::new(),
        ours: false,
    }];
    let sides = all_sides(
        root,
        "step",
        "r8/train.jsonl",
        workload.rounds,
        &[],
        &pytorch,
        |c| {
            c.args(["--max-len", &workload.max_len.to_string()])
                .args(["--batch-sizes", &sizes])
                .args(["--repeats", &workload.repeats.to_string()])
        },
    )?;
    let (ours, reference) = (&sides.ours, &sides.references[0].1);

    // A training step costs about three forward passes: the forward, and the backward's
    // two products per matmul (the input's gradient and the weight's).
    let model = ModelShape::read(root)?;
    let step_flops =
        |batch: f64| 3.0 * model.forward_flops(workload.max_len) * batch * workload.max_len as f64;
    println!(
        "\nMiniLM fine-tuning steps (forward, backward, clipping, AdamW), max_len {}\n",
        workload.max_len
    );
    println!(
        "{:>6} {:>13} {:>13} {:>8} {:>12} {:>12}",
        "batch", "ours step/s", "PyTorch", "ratio", "ours GFLOP/s", "PyTorch"
    );
    let mut steps = Vec::new();
    for (a, b) in array(&ours["steps"])?
        .iter()
        .zip(array(&reference["steps"])?)
    {
        let batch = number(&a["batch_size"]);
        let (ours_s, reference_s) = (number(&a["seconds"]), number(&b["seconds"]));
        println!(
            "{batch:>6} {:>13.2} {:>13.2} {:>7.2}x {:>12.1} {:>12.1}",
            1.0 / ours_s,
            1.0 / reference_s,
            reference_s / ours_s,
            step_flops(batch) / ours_s / 1e9,
            step_flops(batch) / reference_s / 1e9
        );
        steps.push(json!({
            "batch_size": batch,
            "ours_sentences_per_second": batch / ours_s,
            "reference_sentences_per_second": batch / reference_s,
            "ratio_ours_over_pytorch": reference_s / ours_s,
        }));
    }
    println!(
        "peak RSS, MiB: ours {:.0}, PyTorch {:.0} (the largest batch)",
        number(&ours["peak_rss_mib"]),
        number(&reference["peak_rss_mib"])
    );
    let results = json!({
        "benchmark": "step",
        "machine": machine(),
        "workload": {"model": "all-MiniLM-L6-v2", "data": "r8 train", "max_len": workload.max_len,
                     "batch_sizes": workload.batch_sizes, "repeats": workload.repeats, "rounds": workload.rounds},
        "steps": steps,
        "ours": ours,
        "reference": reference,
        "rounds": sides.rounds,
    });
    println!(
        "\nresults: {}",
        write_results(root, "step", &results)?.display()
    );
    Ok(())
}

/// A reference side: `scripts/reference/bench_WHAT.py`, or with `ours` our own
/// `bertcls bench WHAT` (in another precision), with these arguments.
struct Reference {
    name: &'static str,
    args: Vec<String>,
    ours: bool,
}

/// Runs `bertcls bench WHAT` (with `ours_args`) and each reference on the same model and
/// data file (relative to data/) with the same workload flags, `rounds` times each,
/// alternating; returns every side's results, merged by [`median_of`].
fn all_sides(
    root: &Path,
    what: &str,
    data: &str,
    rounds: usize,
    ours_args: &[String],
    references: &[Reference],
    workload: impl Fn(&mut Command) -> &mut Command,
) -> Result<Sides> {
    fetch::model(root, false)?;
    fetch_data(root, "r8", false)?;
    let (bertcls, python) = (build_bertcls(root)?, reference_python(root)?);
    let (model, data) = (root.join(MODEL), root.join("data").join(data));

    // `bertcls bench WHAT` with `args`: our side, or our own reference (another precision).
    let bertcls_bench = |args: &[String]| {
        let mut command = Command::new(&bertcls);
        command
            .args(["bench", what, "--model"])
            .arg(&model)
            .arg("--input")
            .arg(&data)
            .args(args);
        command
    };
    let mut ours = Vec::new();
    let mut theirs: Vec<Vec<Value>> = references.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}, ours: bertcls bench {what}…");
        ours.push(json_of(workload(&mut bertcls_bench(ours_args)))?);

        for (reference, results) in references.iter().zip(&mut theirs) {
            eprintln!(
                "round {round}/{rounds}, reference: {}, the same batches…",
                reference.name
            );
            let mut command = if reference.ours {
                bertcls_bench(&reference.args)
            } else {
                let mut command = Command::new(&python);
                command
                    .arg(root.join(format!("scripts/reference/bench_{what}.py")))
                    .arg(&model)
                    .arg(&data)
                    .args(&reference.args);
                command
            };
            results.push(json_of(workload(&mut command))?);
        }
    }
    let mut every_round = serde_json::Map::new();
    every_round.insert("ours".into(), json!(ours));
    for (reference, results) in references.iter().zip(&theirs) {
        every_round.insert(reference.name.into(), json!(results));
    }
    Ok(Sides {
        ours: median_of(&ours),
        references: references
            .iter()
            .zip(&theirs)
            .map(|(reference, results)| (reference.name, median_of(results)))
            .collect(),
        rounds: Value::Object(every_round),
    })
}

/// Every side's results: the medians over rounds, and every round as it came.
struct Sides {
    ours: Value,
    references: Vec<(&'static str, Value)>,
    rounds: Value,
}

/// The rounds' results merged: every number the median of its values across rounds,
/// everything else as the first round has it. Rounds alternate the two sides, so a
/// machine that slows down for a while (a shared host) slows both, and the median
/// drops the round it spoiled.
fn median_of(rounds: &[Value]) -> Value {
    match &rounds[0] {
        Value::Object(first) => Value::Object(
            first
                .keys()
                .map(|key| {
                    let values: Vec<Value> = rounds.iter().map(|r| r[key].clone()).collect();
                    (key.clone(), median_of(&values))
                })
                .collect(),
        ),
        Value::Array(first) => Value::Array(
            (0..first.len())
                .map(|i| median_of(&rounds.iter().map(|r| r[i].clone()).collect::<Vec<_>>()))
                .collect(),
        ),
        Value::Number(_) => {
            let mut numbers: Vec<f64> = rounds.iter().map(number).collect();
            numbers.sort_by(f64::total_cmp);
            json!(numbers[numbers.len() / 2])
        }
        other => other.clone(),
    }
}

/// What the FLOP counts need from the model's config.json.
struct ModelShape {
    hidden: f64,
    intermediate: f64,
    layers: f64,
}

impl ModelShape {
    fn read(root: &Path) -> Result<Self> {
        let path = root.join(MODEL).join("config.json");
        let config: Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?;
        Ok(Self {
            hidden: number(&config["hidden_size"]),
            intermediate: number(&config["intermediate_size"]),
            layers: number(&config["num_hidden_layers"]),
        })
    }

    /// FLOPs of the encoder's forward pass per token of a sequence of `len` tokens:
    /// the four h×h projections and the two h×i feed-forward products, plus attention's
    /// two len×h products (2 FLOPs per multiply-add).
    fn forward_flops(&self, len: usize) -> f64 {
        let (h, i) = (self.hidden, self.intermediate);
        self.layers * 2.0 * (4.0 * h * h + 2.0 * h * i + 2.0 * len as f64 * h)
    }
}

/// The best of the sides' [4096, 384] × [384, 1536] matmul rates, GFLOP/s: what this
/// machine's matmuls reach on these shapes today.
fn matmul_peak<'a>(sides: impl Iterator<Item = &'a Value>) -> f64 {
    let flops = 2.0 * 4096.0 * 384.0 * 1536.0;
    let best = sides
        .map(|side| number(&side["matmul_4096x384x1536_seconds"]))
        .fold(f64::INFINITY, f64::min);
    flops / best / 1e9
}

/// Runs a benchmark process (its progress on our stderr) and parses the JSON it prints.
pub(crate) fn json_of(command: &mut Command) -> Result<Value> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    ensure!(
        output.status.success(),
        "{command:?} failed ({})",
        output.status
    );
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{command:?} did not print one JSON object"))
}

pub(crate) fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

pub(crate) fn array(value: &Value) -> Result<&Vec<Value>> {
    value
        .as_array()
        .context("a benchmark result without its steps")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_merge_number_by_number() {
        let rounds = [
            json!({"fixed": {"seconds": 3.0}, "steps": [{"seconds": 1.0}], "name": "a"}),
            json!({"fixed": {"seconds": 1.0}, "steps": [{"seconds": 9.0}], "name": "b"}),
            json!({"fixed": {"seconds": 2.0}, "steps": [{"seconds": 5.0}], "name": "c"}),
        ];
        assert_eq!(
            median_of(&rounds),
            json!({"fixed": {"seconds": 2.0}, "steps": [{"seconds": 5.0}], "name": "a"})
        );
    }
}
