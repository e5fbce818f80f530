//! The report's charts, each drawn from the [`Comparison`] alone.

use std::fmt::Write;

use metrics::ClassificationReport;

use crate::Comparison;
use crate::svg::{Chart, END_TO_END, FRONTIER, Frame, MUTED, PIPELINE, escape, svg_element};

/// Every chart of the report, in reading order.
pub fn all(c: &Comparison) -> Vec<Chart> {
    let mut charts = vec![quality_against_cost(c)];
    charts.extend(crate::frontier::chart(c));
    charts.push(per_class_f1(c));
    for (name, mode) in c.modes() {
        if let Some(run) = mode.runs.first() {
            charts.push(confusion(name, &run.test));
        }
    }
    if let Some(run) = c.end_to_end.runs.first().filter(|r| !r.curve.is_empty()) {
        charts.push(learning_curves(&run.curve));
    }
    charts
}

fn mode_color(name: &str) -> &'static str {
    match name {
        "pipeline" => PIPELINE,
        "end-to-end" => END_TO_END,
        _ => FRONTIER,
    }
}

fn quality_against_cost(c: &Comparison) -> Chart {
    let models = c.points();
    let points: Vec<(&str, f64, f64, &str)> = models
        .iter()
        .flat_map(|(name, mode)| {
            mode.runs.iter().flat_map(move |run| {
                run.cost_points
                    .iter()
                    .map(move |p| (name.as_str(), p.seconds, p.valid_macro_f1, p.label.as_str()))
            })
        })
        .filter(|p| p.1.is_finite() && p.2.is_finite())
        .collect();
    let (x_min, x_max) = range(points.iter().map(|p| p.1.max(1e-3)));
    let (y_min, y_max) = range(points.iter().map(|p| p.2));
    let mut frame = Frame::new(
        640.0,
        380.0,
        (x_min / 1.5, x_max * 1.5, true),
        (y_min - 0.02, (y_max + 0.02).min(1.0), false),
    );
    frame.axes("training seconds (log scale)", "validation macro-F1", None);
    for &(name, seconds, f1, label) in &points {
        let radius = if name == "pipeline" { 4.0 } else { 7.0 };
        frame.point(
            seconds.max(1e-3),
            f1,
            radius,
            mode_color(name),
            &format!("{name}: {label} ({seconds:.1} s, macro-F1 {f1:.4})"),
        );
    }
    frame.legend("pipeline heads", PIPELINE);
    frame.legend("fine-tuning runs", END_TO_END);
    if models.len() > 2 {
        frame.legend("top-layer fine-tuning runs", FRONTIER);
    }
    let title = "Quality against cost";
    Chart {
        file: "quality-vs-cost.svg".into(),
        title: title.into(),
        caption: "One point per trained model: every head of the sweep (its own training \
                  time; the frozen embedding is paid once for all of them) and every \
                  fine-tuning run. Hover a point for its configuration."
            .into(),
        svg: frame.finish(title),
    }
}

fn per_class_f1(c: &Comparison) -> Chart {
    let classes = &c.data.classes;
    let n = classes.len().max(1);
    let width = (120.0 + 70.0 * n as f64).max(480.0);
    let mut frame = Frame::new(
        width,
        340.0,
        (-0.5, n as f64 - 0.5, false),
        (0.0, 1.0, false),
    );
    frame.axes(
        "class (rarest marked *)",
        "test F1",
        Some(&class_axis_labels(c)),
    );
    for (offset, (name, mode)) in [-0.18, 0.18].into_iter().zip(c.modes()) {
        for (i, label) in classes.iter().enumerate() {
            let f1 = mode.class_f1(label);
            frame.bar(
                i as f64 + offset,
                0.34,
                f1.mean,
                mode_color(name),
                &format!("{name}, {label}: F1 {}", f1.show(3)),
            );
        }
        frame.legend(name, mode_color(name));
    }
    let title = "Per-class F1 on the test set";
    Chart {
        file: "per-class-f1.svg".into(),
        title: title.into(),
        caption: "Test F1 of every class, both modes side by side (mean over seeds).".into(),
        svg: frame.finish(title),
    }
}

fn class_axis_labels(c: &Comparison) -> Vec<String> {
    let rarest = c.data.rarest_class();
    c.data
        .classes
        .iter()
        .map(|l| {
            if Some(l.as_str()) == rarest {
                format!("{l}*")
            } else {
                l.clone()
            }
        })
        .collect()
}

/// A heat map of counts, each row shaded by its share of the true class.
fn confusion(mode: &str, report: &ClassificationReport) -> Chart {
    let labels: Vec<&str> = report.per_class.iter().map(|s| s.label.as_str()).collect();
    let k = report.confusion.classes;
    let cell = (360.0 / k.max(1) as f64).clamp(22.0, 48.0);
    let (left, top) = (110.0, 40.0);
    let size = cell * k as f64;
    let mut body = String::new();
    for t in 0..k {
        let row_total: usize = (0..k).map(|p| report.confusion.get(t, p)).sum();
        for p in 0..k {
            let count = report.confusion.get(t, p);
            let share = count as f64 / row_total.max(1) as f64;
            let (x, y) = (left + p as f64 * cell, top + t as f64 * cell);
            let ink = if share > 0.5 { "#fff" } else { "#222" };
            let _ = write!(
                body,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{}" fill-opacity="{:.3}" stroke="#fff"><title>true {}, predicted {}: {count}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="{ink}">{count}</text>"##,
                mode_color(mode),
                0.05 + 0.95 * share,
                escape(labels[t]),
                escape(labels[p]),
                x + cell / 2.0,
                y + cell / 2.0 + 3.5
            );
        }
        let _ = write!(
            body,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
            left - 6.0,
            top + t as f64 * cell + cell / 2.0 + 4.0,
            escape(labels[t])
        );
    }
    for (p, label) in labels.iter().enumerate() {
        let x = left + p as f64 * cell + cell / 2.0;
        let y = top + size + 8.0;
        let _ = write!(
            body,
            r#"<text transform="translate({x:.1} {y:.1}) rotate(45)" font-size="11">{}</text>"#,
            escape(label)
        );
    }
    let _ = write!(
        body,
        r##"<text x="{left}" y="24" font-size="12">{mode}: rows true class, columns predicted</text>"##
    );
    let title = format!("Confusion matrix, {mode}");
    Chart {
        file: format!("confusion-{mode}.svg"),
        caption: format!(
            "Test-set counts for the {mode} model (first seed); shading is the share of the row's true class."
        ),
        svg: svg_element(left + size + 20.0, top + size + 90.0, &title, &body),
        title,
    }
}

fn learning_curves(curve: &[crate::CurvePoint]) -> Chart {
    let epochs = range(curve.iter().map(|p| p.epoch));
    let values = range(
        curve
            .iter()
            .flat_map(|p| [p.train_loss, p.valid_loss, p.valid_macro_f1]),
    );
    let mut frame = Frame::new(
        640.0,
        340.0,
        (0.0, epochs.1.max(1.0), false),
        (0.0, (values.1 * 1.1).max(0.1), false),
    );
    frame.axes("epoch", "loss  /  validation macro-F1", None);
    let series = |f: fn(&crate::CurvePoint) -> f64| -> Vec<(f64, f64)> {
        curve.iter().map(|p| (p.epoch, f(p))).collect()
    };
    frame.line(&series(|p| p.train_loss), MUTED, true);
    frame.line(&series(|p| p.valid_loss), END_TO_END, false);
    frame.legend("train loss", MUTED);
    frame.legend("validation loss", END_TO_END);
    // Macro-F1 shares the axis, whose range covers losses and F1 alike.
    frame.line(&series(|p| p.valid_macro_f1), PIPELINE, false);
    frame.legend("validation macro-F1", PIPELINE);
    let title = "Fine-tuning curves";
    Chart {
        file: "fine-tuning-curves.svg".into(),
        title: title.into(),
        caption: "Training loss (mean since the previous evaluation), validation loss and \
                  validation macro-F1 at each evaluation of the first fine-tuning run."
            .into(),
        svg: frame.finish(title),
    }
}

/// Smallest and largest finite value (0..1 when there is none).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
        .unwrap_or((0.0, 1.0))
}
