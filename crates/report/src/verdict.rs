//! The plain-language verdict, computed from the numbers and nothing else.

use crate::stats::{SINGLE_SEED_NOISE, noise};
use crate::{Comparison, Stat};

/// Per-class F1 changes smaller than this are not worth naming.
const CLASS_CHANGE: f64 = 0.02;

/// A few sentences: what end-to-end gained over the best pipeline head, at what
/// multiple of cost, on which classes, and whether the gain exceeds the noise.
pub fn verdict(c: &Comparison) -> Vec<String> {
    let (pipe, e2e) = (&c.pipeline, &c.end_to_end);
    if pipe.runs.is_empty() || e2e.runs.is_empty() {
        return vec!["One of the modes has no result: nothing to compare.".into()];
    }
    let f1 = (
        pipe.stat(|r| r.test.macro_f1),
        e2e.stat(|r| r.test.macro_f1),
    );
    let accuracy = (
        pipe.stat(|r| r.test.accuracy),
        e2e.stat(|r| r.test.accuracy),
    );
    let cost = (
        pipe.stat(|r| r.train_seconds),
        e2e.stat(|r| r.train_seconds),
    );
    let gain = f1.1.mean - f1.0.mean;
    let ratio = cost.1.mean / cost.0.mean.max(1e-9);

    let mut lines = vec![format!(
        "End-to-end fine-tuning {} {:.1} macro-F1 points ({:+.1} accuracy points) against the best pipeline head, at {} the pipeline's training time ({:.0} s against {:.0} s).",
        if gain >= 0.0 { "gained" } else { "lost" },
        100.0 * gain.abs(),
        100.0 * (accuracy.1.mean - accuracy.0.mean),
        multiple(ratio),
        cost.1.mean,
        cost.0.mean,
    )];

    let runs = f1.0.n.min(f1.1.n);
    let noise = noise(&[f1.0, f1.1]);
    let real = gain.abs() > noise;
    lines.push(if runs > 1 {
        format!(
            "Over {runs} seeds the difference is {} the seeds' spread (standard deviation up to {:.1} points).",
            if real { "larger than" } else { "within" },
            100.0 * noise
        )
    } else {
        format!(
            "This is one seed: differences under {:.0} point can be run-to-run noise; three seeds measure the spread.",
            100.0 * SINGLE_SEED_NOISE
        )
    });
    lines.extend(class_changes(c));
    lines.extend(crate::frontier::verdict(c));
    lines.extend(contrastive(c));
    if c.settings.quick {
        lines.push(
            "A quick run: small subsets and a short recipe, to check the set-up rather than to decide."
                .into(),
        );
    }

    lines.push(if real && gain > 0.0 {
        format!(
            "Bottom line: fine-tuning pays on this data, if {} the training cost is affordable.",
            multiple(ratio)
        )
    } else if real {
        "Bottom line: the pipeline is better here, and cheaper.".into()
    } else {
        "Bottom line: the pipeline is enough here: it matches fine-tuning within the noise at a fraction of the cost.".into()
    });
    lines
}

/// "3.2×" or, when the first is cheaper, "0.4×".
fn multiple(ratio: f64) -> String {
    format!("{ratio:.1}×")
}

/// Which classes gained or lost, and what happened to the rarest.
fn class_changes(c: &Comparison) -> Vec<String> {
    let deltas: Vec<(&str, Stat, Stat)> = c
        .data
        .classes
        .iter()
        .map(|l| (l.as_str(), c.pipeline.class_f1(l), c.end_to_end.class_f1(l)))
        .collect();
    let named = |mut list: Vec<(&str, f64)>| {
        list.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        list.iter()
            .take(3)
            .map(|(l, d)| format!("{l} ({:+.1})", 100.0 * d))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let changes: Vec<(&str, f64)> = deltas
        .iter()
        .map(|(l, p, e)| (*l, e.mean - p.mean))
        .collect();
    let gains: Vec<_> = changes
        .iter()
        .copied()
        .filter(|c| c.1 > CLASS_CHANGE)
        .collect();
    let losses: Vec<_> = changes
        .iter()
        .copied()
        .filter(|c| c.1 < -CLASS_CHANGE)
        .collect();
    let mut lines = Vec::new();
    lines.push(match (gains.is_empty(), losses.is_empty()) {
        (true, true) => format!(
            "Per-class F1 moved by less than {:.0} points on every class.",
            100.0 * CLASS_CHANGE
        ),
        (false, true) => format!("Per-class F1 points gained: {}.", named(gains)),
        (true, false) => format!("Per-class F1 points lost: {}.", named(losses)),
        (false, false) => format!(
            "Per-class F1 points gained: {}; lost: {}.",
            named(gains),
            named(losses)
        ),
    });
    if let Some(rarest) = c.data.rarest_class()
        && let Some((_, p, e)) = deltas.iter().find(|(l, _, _)| *l == rarest)
    {
        let count = c
            .data
            .classes
            .iter()
            .position(|l| l == rarest)
            .map_or(0, |i| c.data.train_counts[i]);
        lines.push(format!(
            "The rarest class, {rarest} ({count} training examples): F1 {} with the pipeline, {} end-to-end.",
            p.show(3),
            e.show(3)
        ));
    }
    lines
}

/// Contrastive tuning against the pipeline and end-to-end, when it ran.
fn contrastive(c: &Comparison) -> Option<String> {
    let mode = c.contrastive.as_ref().filter(|m| !m.runs.is_empty())?;
    let f1 = |m: &crate::ModeResult| m.stat(|r| r.test.macro_f1);
    let (tuned, pipe, e2e) = (f1(mode), f1(&c.pipeline), f1(&c.end_to_end));
    let noise = noise(&[tuned, pipe, e2e]);
    let against = |other: Stat, name: &str| {
        let gain = tuned.mean - other.mean;
        if gain.abs() <= noise {
            format!("level with {name} within the seeds' spread")
        } else {
            format!(
                "{:.1} points {} {name}",
                100.0 * gain.abs(),
                if gain > 0.0 { "above" } else { "below" }
            )
        }
    };
    Some(format!(
        "Contrastive tuning (SetFit) reached macro-F1 {:.4}: {}, {}, after {:.0} s of training.",
        tuned.mean,
        against(pipe, "the pipeline"),
        against(e2e, "end-to-end fine-tuning"),
        mode.stat(|r| r.train_seconds).mean,
    ))
}
