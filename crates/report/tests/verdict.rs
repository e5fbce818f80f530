//! The verdict and the files, on comparisons whose test reports are computed from
//! known predictions: 80 examples of a common class `a`, 20 of a rare class `b`.

use metrics::ClassificationReport;
use report::{
    Comparison, CostPoint, DataInfo, Environment, ModeResult, RunResult, Settings, verdict,
};

/// A run that gets all of `a` right and `rare_right` of the 20 `b`s.
fn run(seed: u64, rare_right: usize, seconds: f64) -> RunResult {
    let labels = ["a".to_owned(), "b".to_owned()];
    let truth: Vec<usize> = [vec![0; 80], vec![1; 20]].concat();
    let predicted: Vec<usize> =
        [vec![0; 80], vec![1; rare_right], vec![0; 20 - rare_right]].concat();
    let test = ClassificationReport::new(&labels, &truth, &predicted, None);
    RunResult {
        seed,
        valid_macro_f1: test.macro_f1,
        train_seconds: seconds,
        cost_breakdown: vec![("training".into(), seconds)],
        inference_docs_per_second: 50.0,
        peak_rss_mib: Some(500.0),
        model_bytes: 90_000_000,
        curve: Vec::new(),
        cost_points: vec![CostPoint {
            label: format!("seed {seed}"),
            seconds,
            valid_macro_f1: test.macro_f1,
        }],
        test,
    }
}

fn comparison(pipeline: Vec<RunResult>, end_to_end: Vec<RunResult>) -> Comparison {
    let seeds = pipeline.iter().map(|r| r.seed).collect();
    Comparison {
        version: "test".into(),
        started_unix: 0,
        wall_seconds: 1.0,
        environment: Environment {
            backend: "flex".into(),
            os: "linux".into(),
            cpu: "test".into(),
            cores: 2,
            memory_gib: None,
            burn_version: "0.22.1".into(),
        },
        data: DataInfo {
            name: "toy".into(),
            classes: vec!["a".into(), "b".into()],
            train_counts: vec![400, 100],
            train: 500,
            validation: 100,
            test: 100,
            files: Vec::new(),
            derivation: None,
            manifest: None,
        },
        settings: Settings {
            model: "tiny".into(),
            max_len: 64,
            seeds,
            quick: false,
            embedding: serde_json::Value::Null,
            sweep: serde_json::Value::Null,
            fine_tune: serde_json::Value::Null,
        },
        pipeline: ModeResult {
            description: "heads".into(),
            runs: pipeline,
        },
        end_to_end: ModeResult {
            description: "fine-tuned".into(),
            runs: end_to_end,
        },
        leaderboard: Vec::new(),
        commands: Vec::new(),
    }
}

fn said(c: &Comparison) -> String {
    verdict(c).join("\n")
}

#[test]
fn a_clear_single_seed_gain_says_fine_tuning_pays_and_where() {
    let c = comparison(vec![run(1, 10, 10.0)], vec![run(1, 20, 300.0)]);
    let text = said(&c);
    // b: F1 2·1·0.5/1.5 = 0.667 → 1.0; a: 80/(80+10) precision → F1 0.941 → 1.0.
    assert!(text.contains("gained 19.6 macro-F1 points"), "{text}");
    assert!(text.contains("30.0×"), "cost multiple: {text}");
    assert!(
        text.contains("b (+33.3)"),
        "the rare class's gain named: {text}"
    );
    assert!(
        text.contains("rarest class, b (100 training examples)"),
        "{text}"
    );
    assert!(text.contains("one seed"), "{text}");
    assert!(text.contains("fine-tuning pays"), "{text}");
}

#[test]
fn a_gain_within_the_seeds_spread_is_not_called_a_gain() {
    // Pipeline b recall 10, 14, 18 of 20 (wide spread); end-to-end 15, 15, 15.
    let c = comparison(
        vec![run(1, 10, 10.0), run(2, 14, 10.0), run(3, 18, 10.0)],
        vec![run(1, 15, 300.0), run(2, 15, 300.0), run(3, 15, 300.0)],
    );
    let text = said(&c);
    assert!(
        text.contains("Over 3 seeds the difference is within"),
        "{text}"
    );
    assert!(text.contains("the pipeline is enough"), "{text}");
}

#[test]
fn a_clear_loss_says_the_pipeline_is_better() {
    let c = comparison(vec![run(1, 20, 10.0)], vec![run(1, 5, 300.0)]);
    let text = said(&c);
    assert!(text.contains("lost"), "{text}");
    assert!(text.contains("the pipeline is better here"), "{text}");
}

#[test]
fn files_round_trip_and_show_the_verdict() {
    let c = comparison(vec![run(1, 10, 10.0)], vec![run(1, 20, 300.0)]);
    let dir = tempfile::tempdir().unwrap();
    report::write_report(&c, dir.path()).unwrap();
    let back = report::read_results(&dir.path().join(report::RESULTS_FILE)).unwrap();
    // serde_json's default float parser may land one ulp off (its exact mode,
    // `float_roundtrip`, is not enabled in this workspace): compare numbers loosely.
    assert_eq!((&back.data, &back.settings), (&c.data, &c.settings));
    for (read, written) in [
        (&back.pipeline, &c.pipeline),
        (&back.end_to_end, &c.end_to_end),
    ] {
        let (r, w) = (&read.runs[0], &written.runs[0]);
        assert_eq!(r.test.confusion, w.test.confusion);
        for (a, b) in [
            (r.test.macro_f1, w.test.macro_f1),
            (r.test.accuracy, w.test.accuracy),
            (r.train_seconds, w.train_seconds),
        ] {
            assert!((a - b).abs() <= 1e-15 * b.abs().max(1.0), "{a} != {b}");
        }
    }
    let markdown = std::fs::read_to_string(dir.path().join(report::MARKDOWN_FILE)).unwrap();
    let html = std::fs::read_to_string(dir.path().join(report::HTML_FILE)).unwrap();
    for line in verdict(&c) {
        assert!(markdown.contains(&line), "{line}");
    }
    assert!(html.contains("<svg"), "charts inline");
    assert!(dir.path().join("per-class-f1.svg").is_file());
}

#[test]
fn every_table_of_the_report_has_a_header_cell_per_column() {
    let c = comparison(vec![run(1, 10, 10.0)], vec![run(1, 20, 300.0)]);
    let dir = tempfile::tempdir().unwrap();
    report::write_report(&c, dir.path()).unwrap();
    let markdown = std::fs::read_to_string(dir.path().join(report::MARKDOWN_FILE)).unwrap();
    let cells = |line: &str| line.trim().trim_matches('|').split('|').count();
    let mut tables = 0;
    let mut header: Option<usize> = None;
    for line in markdown.lines() {
        match (line.trim_start().starts_with('|'), header) {
            (true, None) => {
                header = Some(cells(line));
                tables += 1;
            }
            (true, Some(width)) => assert_eq!(cells(line), width, "{line}"),
            (false, _) => header = None,
        }
    }
    assert!(tables >= 3, "{markdown}");
    let html = std::fs::read_to_string(dir.path().join(report::HTML_FILE)).unwrap();
    let per_class = html
        .split("<table>")
        .find(|t| t.contains("<th>test examples</th>"))
        .unwrap_or_else(|| panic!("no per-class table in {html}"));
    let header_cells = per_class.matches("<th>").count();
    let first_row = per_class.split("<tr>").nth(2).unwrap();
    assert_eq!(first_row.matches("<td>").count(), header_cells);
}
