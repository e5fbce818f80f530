//! The examples in `examples/` run, on the tiny test model and a toy data set, and
//! say what they should: `cargo test` builds them, this runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::tiny_model;

/// The example binary `name`, built by `cargo test` next to this test's folder.
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    Command::new(path)
}

/// Runs an example; its stdout, which it must have succeeded to give.
fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The number after `what` in `text` ("test accuracy 0.9375, …").
fn number_after(text: &str, what: &str) -> f64 {
    let rest = &text[text
        .find(what)
        .unwrap_or_else(|| panic!("no {what:?} in {text}"))
        + what.len()..];
    rest.trim_start()
        .split([',', ';', ' ', '\n'])
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_examples_run_and_report_what_they_trained() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = (dir.path().join("topics"), tiny_model());
    std::fs::create_dir(&data).unwrap();
    testkit::topic_splits(&data, 40, 16);

    let pipeline = run(example("embed_and_train_head")
        .args([&data, &dir.path().join("p"), &model])
        .arg("16"));
    let accuracy = number_after(&pipeline, "test accuracy");
    assert!((0.0..=1.0).contains(&accuracy), "{pipeline}");
    assert!(dir.path().join("p/test-predictions.jsonl").is_file());

    let out = dir.path().join("ft");
    let fine_tuned = run(example("finetune_and_predict")
        .args([&data, &out, &model])
        .arg("16"));
    assert!(
        (0.0..=1.0).contains(&number_after(&fine_tuned, "test accuracy")),
        "{fine_tuned}"
    );

    let classified = run(example("classify")
        .arg(out.join("model"))
        .args(["cat the dog", "stock the price"]));
    let lines: Vec<&str> = classified.lines().collect();
    assert_eq!(lines.len(), 2, "{classified}");
    for (line, text) in lines.iter().zip(["cat the dog", "stock the price"]) {
        assert!(line.ends_with(text), "{line}");
        assert!(
            line.starts_with("animals") || line.starts_with("markets"),
            "{line}"
        );
        let probability: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(
            (0.5..=1.0).contains(&probability),
            "the chosen class is the likelier of two: {line}"
        );
    }

    // In the temporary folder: the comparison's default cache folders are relative.
    let compared = run(example("compare_modes")
        .current_dir(dir.path())
        .args([&data, &dir.path().join("reports"), &model])
        .arg("16"));
    let pipeline_f1 = number_after(&compared, "pipeline");
    let end_to_end_f1 = number_after(&compared, "end-to-end");
    assert!(
        [pipeline_f1, end_to_end_f1]
            .iter()
            .all(|f| (0.0..=1.0).contains(f)),
        "{compared}"
    );
    let report = PathBuf::from(line_after(&compared, "report:"));
    assert!(report.join("results.json").is_file(), "{compared}");
}

/// The rest of the line that starts with `prefix`.
fn line_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {prefix:?} line in {text}"))
}
