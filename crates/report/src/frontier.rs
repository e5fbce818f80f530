//! The layer frontier: its chart and its sentences of the verdict, from the
//! [`Comparison`]'s numbers alone.

use crate::stats::noise;
use crate::svg::Chart;
use crate::svg::{CONTRASTIVE, FRONTIER, Frame};
use crate::{CONTRASTIVE_NAME, Comparison, ModeResult, Stat};

/// One point of the frontier as the report shows it.
struct Point {
    name: String,
    trained_layers: usize,
    macro_f1: Stat,
    seconds: Stat,
}

/// The frontier's points from the pipeline to end-to-end, when it has any between.
fn points(c: &Comparison) -> Option<(usize, Vec<Point>)> {
    let curve = c.frontier_curve().filter(|curve| curve.len() > 2)?;
    let layers = curve.last().map_or(0, |&(k, _)| k);
    let names = c.points().into_iter().map(|(name, _)| name);
    let points = curve
        .iter()
        .zip(names)
        .map(
            |(&(trained_layers, mode), name): (&(usize, &ModeResult), String)| Point {
                name,
                trained_layers,
                macro_f1: mode.stat(|r| r.test.macro_f1),
                seconds: mode.stat(|r| r.train_seconds),
            },
        )
        .collect();
    Some((layers, points))
}

/// Test macro-F1 against training seconds, one point per number of trained layers,
/// mean ± std over seeds; `None` without points between the two modes.
pub fn chart(c: &Comparison) -> Option<Chart> {
    let (layers, points) = points(c)?;
    let finite = |v: f64| v.is_finite().then_some(v);
    // Contrastive tuning is no point of the frontier, but a marker on its axes.
    let contrastive = c.contrastive.as_ref().map(|mode| {
        (
            mode.stat(|r| r.train_seconds),
            mode.stat(|r| r.test.macro_f1),
        )
    });
    let all = || {
        points
            .iter()
            .map(|p| (p.seconds, p.macro_f1))
            .chain(contrastive)
    };
    let x_max = all()
        .filter_map(|(s, _)| finite(s.mean))
        .fold(1.0, f64::max);
    let low = all()
        .filter_map(|(_, f1)| finite(f1.mean - f1.std))
        .fold(1.0, f64::min);
    let high = all()
        .filter_map(|(_, f1)| finite(f1.mean + f1.std))
        .fold(0.0, f64::max);
    let mut frame = Frame::new(
        640.0,
        380.0,
        (0.0, x_max * 1.15, false),
        ((low - 0.02).max(0.0), (high + 0.02).min(1.0), false),
    );
    frame.axes(
        "training seconds (state and embedding caches included)",
        "test macro-F1",
        None,
    );
    let means: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.seconds.mean, p.macro_f1.mean))
        .collect();
    frame.line(&means, FRONTIER, false);
    for p in &points {
        let (x, f1) = (p.seconds.mean, p.macro_f1);
        if f1.std > 0.0 {
            frame.whisker(x, f1.mean - f1.std, f1.mean + f1.std);
        }
        frame.point(
            x,
            f1.mean,
            5.0,
            FRONTIER,
            &format!(
                "{}: macro-F1 {} after {} s of training",
                p.name,
                f1.show(4),
                p.seconds.show(0)
            ),
        );
        frame.label(x, f1.mean, &format!("K={}", p.trained_layers));
    }
    frame.legend(
        &format!("K of {layers} layers trained: 0 = pipeline, {layers} = end-to-end"),
        FRONTIER,
    );
    if let Some((seconds, f1)) = contrastive {
        if f1.std > 0.0 {
            frame.whisker(seconds.mean, f1.mean - f1.std, f1.mean + f1.std);
        }
        frame.point(
            seconds.mean,
            f1.mean,
            6.0,
            CONTRASTIVE,
            &format!(
                "{CONTRASTIVE_NAME}: macro-F1 {} after {} s of training",
                f1.show(4),
                seconds.show(0)
            ),
        );
        frame.legend(CONTRASTIVE_NAME, CONTRASTIVE);
    }
    let title = "The layer frontier";
    Some(Chart {
        file: "frontier.svg".into(),
        title: title.into(),
        caption: "Test macro-F1 against what training cost, one point per number K of \
                  top encoder layers fine-tuned: the pipeline's frozen encoder (K = 0), \
                  the top K layers over cached states of the layers below, end-to-end \
                  fine-tuning (all layers). Mean over seeds; bars ± one standard \
                  deviation."
            .into(),
        svg: frame.finish(title),
    })
}

/// What each point between the modes bought of end-to-end's gain, at what share of
/// its cost, and the cheapest point as good as the best; nothing without points.
pub fn verdict(c: &Comparison) -> Vec<String> {
    let Some((layers, points)) = points(c) else {
        return Vec::new();
    };
    let (Some(pipeline), Some(end_to_end)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let f1: Vec<Stat> = points.iter().map(|p| p.macro_f1).collect();
    let noise = noise(&f1);
    let gain = end_to_end.macro_f1.mean - pipeline.macro_f1.mean;
    let full_cost = end_to_end.seconds.mean.max(1e-9);
    let mut lines: Vec<String> = points[1..points.len() - 1]
        .iter()
        .map(|p| {
            let cost = 100.0 * p.seconds.mean / full_cost;
            let numbers = format!(
                "macro-F1 {:.4} against {:.4} end-to-end and {:.4} for the pipeline; {:.0} s against {:.0} s",
                p.macro_f1.mean,
                end_to_end.macro_f1.mean,
                pipeline.macro_f1.mean,
                p.seconds.mean,
                end_to_end.seconds.mean
            );
            let below = pipeline.macro_f1.mean - p.macro_f1.mean;
            if below > noise {
                format!(
                    "Training the top {} of {layers} layers fell {:.1} macro-F1 points below the pipeline, at {cost:.0}% of end-to-end's training time ({numbers}): the weights kept on validation scored below the pipeline's best head on test.",
                    p.trained_layers,
                    100.0 * below,
                )
            } else if below > 0.0 {
                format!(
                    "Training the top {} of {layers} layers did no better than the pipeline (within the noise), at {cost:.0}% of end-to-end's training time ({numbers}).",
                    p.trained_layers,
                )
            } else if gain > noise {
                format!(
                    "Training the top {} of {layers} layers reached {:.0}% of end-to-end's macro-F1 gain at {cost:.0}% of its training time ({numbers}).",
                    p.trained_layers,
                    100.0 * (p.macro_f1.mean - pipeline.macro_f1.mean) / gain,
                )
            } else {
                format!(
                    "Training the top {} of {layers} layers cost {cost:.0}% of end-to-end's training time ({numbers}); end-to-end's own gain is within the noise, so there is no gain to share out.",
                    p.trained_layers,
                )
            }
        })
        .collect();
    let best = f1.iter().map(|s| s.mean).fold(f64::NEG_INFINITY, f64::max);
    if let Some(cheapest) = points
        .iter()
        .filter(|p| p.macro_f1.mean >= best - noise)
        .min_by(|a, b| a.seconds.mean.total_cmp(&b.seconds.mean))
    {
        lines.push(format!(
            "On the frontier, the cheapest model within the noise ({:.1} points) of the best macro-F1 ({best:.4}) is {}: macro-F1 {:.4} after {:.0} s of training.",
            100.0 * noise,
            cheapest.name,
            cheapest.macro_f1.mean,
            cheapest.seconds.mean
        ));
    }
    lines
}
