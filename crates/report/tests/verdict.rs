//! The verdict and the files, on comparisons whose test reports are computed from
//! known predictions: 80 examples of a common class `a`, 20 of a rare class `b`.

use metrics::ClassificationReport;
use report::{
    Comparison, CostPoint, DataInfo, Environment, Frontier, FrontierPoint, ModeResult, RunResult,
    Settings, verdict,
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
        frontier: None,
        contrastive: None,
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

/// Macro-F1 of [`run`]'s predictions, from the closed form: class `a` has precision
/// 80 / (80 + 20 − rare_right) and recall 1; `b` has precision 1 and recall
/// rare_right / 20.
fn macro_f1(rare_right: usize) -> f64 {
    let f1 = |p: f64, r: f64| 2.0 * p * r / (p + r);
    let r = rare_right as f64;
    (f1(80.0 / (100.0 - r), 1.0) + f1(1.0, r / 20.0)) / 2.0
}

/// A comparison of a 3-layer model: the pipeline (10 of the rare class right, 10 s),
/// top 1 (15 right, 60 s), top 2 (20 right, 100 s), end-to-end (20 right, 300 s).
fn frontier_comparison() -> Comparison {
    let mut c = comparison(vec![run(1, 10, 10.0)], vec![run(1, 20, 300.0)]);
    let point = |trained_layers, rare_right, seconds| FrontierPoint {
        trained_layers,
        mode: ModeResult {
            description: format!("top {trained_layers} layers"),
            runs: vec![run(1, rare_right, seconds)],
        },
    };
    c.frontier = Some(Frontier {
        layers: 3,
        points: vec![point(1, 15, 60.0), point(2, 20, 100.0)],
    });
    c
}

#[test]
fn each_frontier_point_is_told_as_a_share_of_end_to_ends_gain_and_cost() {
    let c = frontier_comparison();
    let text = said(&c);
    let share =
        |rare_right| 100.0 * (macro_f1(rare_right) - macro_f1(10)) / (macro_f1(20) - macro_f1(10));
    for (k, rare_right, cost) in [(1, 15, 20), (2, 20, 33)] {
        let line = format!(
            "Training the top {k} of 3 layers reached {:.0}% of end-to-end's macro-F1 gain at {cost}% of its training time",
            share(rare_right)
        );
        assert!(text.contains(&line), "{line} not in {text}");
    }
    assert!(
        share(15) > 50.0 && share(15) < 99.0,
        "the check means something"
    );
    // Top 2 ties end-to-end's macro-F1 (1.0) at a third of its time.
    assert!(
        text.contains("the cheapest model within the noise (1.0 points) of the best macro-F1 (1.0000) is top 2 of 3: macro-F1 1.0000 after 100 s"),
        "{text}"
    );
}

#[test]
fn a_frontier_adds_its_chart_and_rows_and_survives_the_round_trip() {
    let c = frontier_comparison();
    let dir = tempfile::tempdir().unwrap();
    report::write_report(&c, dir.path()).unwrap();
    let back = report::read_results(&dir.path().join(report::RESULTS_FILE)).unwrap();
    let frontier = back.frontier.as_ref().expect("the frontier is saved");
    let ks: Vec<usize> = frontier.points.iter().map(|p| p.trained_layers).collect();
    assert_eq!((frontier.layers, ks), (3, vec![1, 2]));

    let svg = std::fs::read_to_string(dir.path().join("frontier.svg")).unwrap();
    for k in ["K=0", "K=1", "K=2", "K=3"] {
        assert!(svg.contains(k), "{k} labelled in the chart");
    }
    let markdown = std::fs::read_to_string(dir.path().join(report::MARKDOWN_FILE)).unwrap();
    let html = std::fs::read_to_string(dir.path().join(report::HTML_FILE)).unwrap();
    for (name, rare_right) in [
        ("pipeline", 10),
        ("top 1 of 3", 15),
        ("top 2 of 3", 20),
        ("end-to-end", 20),
    ] {
        let row = markdown
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no {name} row in {markdown}"));
        assert!(
            row.contains(&format!("| {:.4} |", macro_f1(rare_right))),
            "{row}"
        );
    }
    assert_eq!(
        html.matches("<svg").count(),
        1 + report_without_frontier_charts(),
        "the frontier chart is one more"
    );
}

#[test]
fn contrastive_tuning_gets_its_row_its_marker_and_its_sentence() {
    let mut c = frontier_comparison();
    // 17 of the rare class right, between the pipeline (10) and end-to-end (20).
    c.contrastive = Some(ModeResult {
        description: "pairs".into(),
        runs: vec![run(1, 17, 40.0)],
    });
    let text = said(&c);
    let line = format!(
        "Contrastive tuning (SetFit) reached macro-F1 {:.4}: {:.1} points above the pipeline, {:.1} points below end-to-end fine-tuning, after 40 s of training.",
        macro_f1(17),
        100.0 * (macro_f1(17) - macro_f1(10)),
        100.0 * (macro_f1(20) - macro_f1(17)),
    );
    assert!(text.contains(&line), "{line} not in {text}");
    // The frontier's sentences still name its own points, not contrastive tuning.
    assert!(
        text.contains("Training the top 1 of 3 layers reached"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    report::write_report(&c, dir.path()).unwrap();
    let back = report::read_results(&dir.path().join(report::RESULTS_FILE)).unwrap();
    assert_eq!(back.contrastive, c.contrastive);
    let markdown = std::fs::read_to_string(dir.path().join(report::MARKDOWN_FILE)).unwrap();
    let row = markdown
        .lines()
        .find(|l| l.starts_with(&format!("| {} |", report::CONTRASTIVE_NAME)))
        .unwrap_or_else(|| panic!("no contrastive row in {markdown}"));
    assert!(row.contains(&format!("| {:.4} |", macro_f1(17))), "{row}");
    let svg = std::fs::read_to_string(dir.path().join("frontier.svg")).unwrap();
    assert!(
        svg.contains(report::CONTRASTIVE_NAME),
        "a marker on the frontier"
    );
}

/// How many charts the same comparison has without its frontier.
fn report_without_frontier_charts() -> usize {
    let mut c = frontier_comparison();
    c.frontier = None;
    let dir = tempfile::tempdir().unwrap();
    report::write_report(&c, dir.path()).unwrap();
    assert!(!dir.path().join("frontier.svg").exists());
    std::fs::read_to_string(dir.path().join(report::HTML_FILE))
        .unwrap()
        .matches("<svg")
        .count()
}

#[test]
fn a_point_below_the_pipeline_is_told_as_a_loss_not_a_share() {
    let mut c = frontier_comparison();
    // Top 1 gets 2 of the rare class right, against the pipeline's 10.
    c.frontier.as_mut().unwrap().points[0].mode.runs = vec![run(1, 2, 60.0)];
    let text = said(&c);
    let below = 100.0 * (macro_f1(10) - macro_f1(2));
    let line = format!(
        "Training the top 1 of 3 layers fell {below:.1} macro-F1 points below the pipeline, at 20% of end-to-end's training time"
    );
    assert!(text.contains(&line), "{line} not in {text}");
    assert!(!text.contains("top 1 of 3 layers reached"), "{text}");
}

#[test]
fn a_point_just_under_the_pipeline_is_not_told_as_a_negative_share() {
    let mut c = frontier_comparison();
    // Top 1 half a point under the pipeline: less than the single-seed noise (1 point).
    let mut under = run(1, 10, 60.0);
    under.test.macro_f1 = macro_f1(10) - 0.005;
    c.frontier.as_mut().unwrap().points[0].mode.runs = vec![under];
    let text = said(&c);
    assert!(
        text.contains("Training the top 1 of 3 layers did no better than the pipeline (within the noise), at 20%"),
        "{text}"
    );
    assert!(!text.contains("reached -"), "no negative share: {text}");
}
