//! `cargo xtask bench layers`: what fine-tuning only the top layers saves, measured in
//! one run on R8's training set. A training step of the top K layers over cached states
//! against a full step on the same batches (`bertcls bench step --train-layers`), and
//! the embedding pass that keeps the states for fine-tuning against the same pass
//! without them (two `bertcls embed` processes, fresh caches each), with the state
//! cache's bytes per stored value.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::bench::{machine, timed, write_results};
use crate::speed::{array, json_of, number};
use crate::{build_bertcls, fetch, fetch_data};

/// The targets: a step of the top 2 layers 3× faster than a full one, the top
/// layer 5×; the pass that keeps the states at most 1.2× the plain pass; 2 bytes per
/// stored value.
const TOP_2_TARGET: f64 = 3.0;
const TOP_1_TARGET: f64 = 5.0;
const SHARED_PASS_TARGET: f64 = 1.2;
const BYTES_PER_VALUE_TARGET: f64 = 2.0;
/// The embedding passes run at the comparison's default max_len.
const EMBED_MAX_LEN: usize = 64;

/// Runs both measurements (steps at `max_len`, `batch_size`, median of `repeats`) and
/// writes `bench/results/layers-<time>.json`.
pub fn layers(root: &Path, max_len: usize, batch_size: usize, repeats: usize) -> Result<()> {
    let model = fetch::model(root, false)?;
    fetch_data(root, "r8", false)?;
    let bertcls = build_bertcls(root)?;
    let config: Value = serde_json::from_str(&std::fs::read_to_string(model.join("config.json"))?)
        .context("the model's config.json")?;
    let n = config["num_hidden_layers"]
        .as_u64()
        .context("config.json without num_hidden_layers")? as usize;
    let train = root.join("data/r8/train.jsonl");

    eprintln!("== training steps: all {n} layers, the top 2, the top 1");
    let steps = json_of(
        Command::new(&bertcls)
            .current_dir(root)
            .args(["bench", "step", "--input"])
            .arg(&train)
            .args(["--max-len", &max_len.to_string()])
            .args(["--batch-sizes", &batch_size.to_string()])
            .args(["--repeats", &repeats.to_string()])
            .args(["--train-layers", &format!("{n},2,1")]),
    )?;
    let seconds_of = |k: usize| -> Result<f64> {
        array(&steps["steps"])?
            .iter()
            .find(|s| s["train_layers"].as_u64() == Some(k as u64))
            .map(|s| number(&s["seconds"]))
            .with_context(|| format!("no step of the top {k} layers in {steps}"))
    };
    let full = seconds_of(n)?;
    let (top_2, top_1) = (full / seconds_of(2)?, full / seconds_of(1)?);

    // A folder of this run's own under target/, removed at the end.
    let work = root.join(format!("target/xtask-bench-layers-{}", std::process::id()));
    std::fs::create_dir(&work).with_context(|| format!("creating {}", work.display()))?;
    let embed = |name: &str| {
        let mut command = Command::new(&bertcls);
        command
            .current_dir(root)
            .args(["embed", "--input"])
            .arg(&train)
            .args(["--max-len", &EMBED_MAX_LEN.to_string(), "--output"])
            .arg(work.join(name));
        command
    };
    let after = n - 2;
    eprintln!(
        "== the embedding pass of R8 train at max_len {EMBED_MAX_LEN}, without and with the states after layer {after}"
    );
    let plain = timed(&mut embed("plain.emb"))?;
    let states_dir = work.join("states");
    let shared = timed(
        embed("shared.emb")
            .args(["--states-after", &after.to_string(), "--state-cache-dir"])
            .arg(&states_dir),
    )?;
    let bytes_per_value = bytes_per_value(&states_dir)?;
    std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;

    let verdict = |ok: bool| if ok { "meets" } else { "MISSES" };
    println!(
        "\nFine-tuning the top layers (R8 train, max_len {max_len}, batch {batch_size}, median of {repeats} steps)\n"
    );
    println!(
        "  step of the top 2 of {n} layers: {top_2:.2}× faster than a full step ({} the {TOP_2_TARGET}× target)",
        verdict(top_2 >= TOP_2_TARGET)
    );
    println!(
        "  step of the top 1 of {n} layers: {top_1:.2}× faster than a full step ({} the {TOP_1_TARGET}× target)",
        verdict(top_1 >= TOP_1_TARGET)
    );
    let ratio = shared / plain;
    println!(
        "  embedding pass keeping the states after layer {after}: {shared:.1} s against {plain:.1} s without, {ratio:.2}× ({} the {SHARED_PASS_TARGET}× target)",
        verdict(ratio <= SHARED_PASS_TARGET)
    );
    println!(
        "  state cache: {bytes_per_value:.4} bytes per stored value ({} the {BYTES_PER_VALUE_TARGET} target)",
        verdict(bytes_per_value <= BYTES_PER_VALUE_TARGET + 1e-3)
    );
    let results = json!({
        "benchmark": "layers",
        "machine": machine(),
        "workload": {"model": "all-MiniLM-L6-v2", "data": "r8 train", "step_max_len": max_len,
                     "batch_size": batch_size, "repeats": repeats, "embed_max_len": EMBED_MAX_LEN},
        "step_ratios_full_over_top_k": {"2": top_2, "1": top_1},
        "steps": steps,
        "embedding_pass_seconds": {"plain": plain, "keeping_states": shared, "ratio": ratio,
                                   "states_after_layer": after},
        "state_cache_bytes_per_value": bytes_per_value,
    });
    println!(
        "\nresults: {}",
        write_results(root, "layers", &results)?.display()
    );
    Ok(())
}

/// Bytes of stored states per value (token × hidden unit) of the one state cache in
/// `dir`: its `states.f16` over the tokens and width its `meta.json` records.
fn bytes_per_value(dir: &Path) -> Result<f64> {
    let cache = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "states"))
        .with_context(|| format!("no state cache in {}", dir.display()))?;
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(cache.join("meta.json"))?)?;
    let tokens: u64 = array(&meta["lengths"])?
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    let width = meta["width"].as_u64().context("meta.json without width")?;
    let bytes = std::fs::metadata(cache.join("states.f16"))?.len();
    Ok(bytes as f64 / (tokens * width) as f64)
}
