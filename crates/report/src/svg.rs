//! Just enough SVG for the report's charts: a plotting frame with linear or log axes,
//! points, lines, rectangles and a legend. Written by hand because the report must be
//! one self-contained file and the charts are few and simple; every coordinate goes
//! through [`Scale`], the one place where data becomes pixels.

use std::fmt::Write;

/// A rendered chart: its file name in the report folder, a title and a caption.
pub struct Chart {
    pub file: String,
    pub title: String,
    pub caption: String,
    pub svg: String,
}

/// Colours of the two modes, used the same way in every chart.
pub const PIPELINE: &str = "#1f77b4";
pub const END_TO_END: &str = "#d62728";
pub const MUTED: &str = "#7f7f7f";
/// The points between the modes: only the top layers fine-tuned.
pub const FRONTIER: &str = "#2ca02c";
/// Contrastive tuning (SetFit).
pub const CONTRASTIVE: &str = "#9467bd";

/// Maps data values in `[min, max]` onto pixels in `[from, to]`, linearly or by log10.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub min: f64,
    pub max: f64,
    pub log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    fn new(min: f64, max: f64, log: bool, from: f64, to: f64) -> Self {
        let (min, max) = if log {
            (min.max(1e-9), max.max(min.max(1e-9) * 10.0))
        } else if max - min < 1e-12 {
            (min - 0.5, max + 0.5)
        } else {
            (min, max)
        };
        Self {
            min,
            max,
            log,
            from,
            to,
        }
    }

    pub fn map(&self, value: f64) -> f64 {
        let t = if self.log {
            (value.max(self.min).log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
        } else {
            (value - self.min) / (self.max - self.min)
        };
        self.from + t.clamp(0.0, 1.0) * (self.to - self.from)
    }

    /// Round tick values inside the range: 1-2-5 steps, or powers of ten on a log axis.
    pub fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (lo, hi) = (
                self.min.log10().floor() as i32,
                self.max.log10().ceil() as i32,
            );
            let multiples: &[f64] = if hi - lo <= 2 {
                &[1.0, 2.0, 5.0]
            } else {
                &[1.0]
            };
            (lo..=hi)
                .flat_map(|e| multiples.iter().map(move |m| m * 10f64.powi(e)))
                .filter(|v| (self.min..=self.max).contains(v))
                .collect()
        } else {
            let raw = (self.max - self.min) / 5.0;
            let magnitude = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * magnitude)
                .find(|s| *s >= raw)
                .unwrap_or(10.0 * magnitude);
            let first = (self.min / step).ceil() as i64;
            let last = (self.max / step).floor() as i64;
            (first..=last).map(|k| k as f64 * step).collect()
        }
    }
}

/// A tick label: few digits, no trailing zeros.
pub fn tick_label(value: f64) -> String {
    if value != 0.0 && (value.abs() >= 1e4 || value.abs() < 1e-3) {
        return format!("{value:.0e}");
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// Text made safe for SVG and HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A chart being drawn: a plotting area with two axes, inside margins for labels.
pub struct Frame {
    width: f64,
    height: f64,
    pub x: Scale,
    pub y: Scale,
    body: String,
    legend: Vec<(String, String)>,
}

const LEFT: f64 = 62.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 48.0;

impl Frame {
    /// A `width` × `height` chart whose axes span the given data ranges.
    pub fn new(width: f64, height: f64, x: (f64, f64, bool), y: (f64, f64, bool)) -> Self {
        Self {
            width,
            height,
            x: Scale::new(x.0, x.1, x.2, LEFT, width - RIGHT),
            y: Scale::new(y.0, y.1, y.2, height - BOTTOM, TOP),
            body: String::new(),
            legend: Vec::new(),
        }
    }

    /// Grid lines, tick labels and axis titles. `x_labels`, when given, replaces the
    /// numeric x ticks by category names at 0, 1, 2, ….
    pub fn axes(&mut self, x_title: &str, y_title: &str, x_labels: Option<&[String]>) {
        let (x0, x1) = (LEFT, self.width - RIGHT);
        let (y0, y1) = (self.height - BOTTOM, TOP);
        for v in self.y.ticks() {
            let py = self.y.map(v);
            let _ = write!(
                self.body,
                r##"<line x1="{x0}" y1="{py:.1}" x2="{x1}" y2="{py:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
                x0 - 6.0,
                py + 4.0,
                tick_label(v)
            );
        }
        match x_labels {
            Some(labels) => {
                for (i, label) in labels.iter().enumerate() {
                    let px = self.x.map(i as f64);
                    let _ = write!(
                        self.body,
                        r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
                        y0 + 16.0,
                        escape(label)
                    );
                }
            }
            None => {
                for v in self.x.ticks() {
                    let px = self.x.map(v);
                    let _ = write!(
                        self.body,
                        r##"<line x1="{px:.1}" y1="{y0}" x2="{px:.1}" y2="{y1}" stroke="#f0f0f0"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"##,
                        y0 + 16.0,
                        tick_label(v)
                    );
                }
            }
        }
        let _ = write!(
            self.body,
            r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" font-size="12">{}</text>"##,
            (x0 + x1) / 2.0,
            self.height - 10.0,
            escape(x_title),
            (y0 + y1) / 2.0,
            escape(y_title)
        );
    }

    /// A dot at data coordinates, with a hover title.
    pub fn point(&mut self, x: f64, y: f64, radius: f64, color: &str, title: &str) {
        let _ = write!(
            self.body,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{radius}" fill="{color}" fill-opacity="0.75"><title>{}</title></circle>"#,
            self.x.map(x),
            self.y.map(y),
            escape(title)
        );
    }

    /// A line through data points, with a dot on each.
    pub fn line(&mut self, points: &[(f64, f64)], color: &str, dashed: bool) {
        let coordinates: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.x.map(x), self.y.map(y)))
            .collect();
        let dash = if dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            coordinates.join(" ")
        );
        for &(x, y) in points {
            let _ = write!(
                self.body,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                self.x.map(x),
                self.y.map(y)
            );
        }
    }

    /// A vertical bar from the x axis' base value up to `y`, centred on `x`, `width`
    /// in data units.
    pub fn bar(&mut self, x: f64, width: f64, y: f64, color: &str, title: &str) {
        let (left, right) = (self.x.map(x - width / 2.0), self.x.map(x + width / 2.0));
        let (top, base) = (self.y.map(y), self.y.map(self.y.min));
        let _ = write!(
            self.body,
            r#"<rect x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{}</title></rect>"#,
            right - left,
            (base - top).max(0.0),
            escape(title)
        );
    }

    /// A vertical error bar from `low` to `high` at `x`, with short caps.
    pub fn whisker(&mut self, x: f64, low: f64, high: f64) {
        let px = self.x.map(x);
        let (top, bottom) = (self.y.map(high), self.y.map(low));
        let _ = write!(
            self.body,
            r##"<path d="M{px:.1} {top:.1}V{bottom:.1}M{:.1} {top:.1}h8M{:.1} {bottom:.1}h8" stroke="#333" fill="none"/>"##,
            px - 4.0,
            px - 4.0
        );
    }

    /// A short text just above and right of a data point.
    pub fn label(&mut self, x: f64, y: f64, text: &str) {
        let _ = write!(
            self.body,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            self.x.map(x) + 6.0,
            self.y.map(y) - 6.0,
            escape(text)
        );
    }

    /// Adds an entry to the legend drawn at the top.
    pub fn legend(&mut self, name: &str, color: &str) {
        self.legend.push((name.to_owned(), color.to_owned()));
    }

    /// The finished `<svg>` element.
    pub fn finish(self, title: &str) -> String {
        let mut legend = String::new();
        let mut x = LEFT;
        for (name, color) in &self.legend {
            let _ = write!(
                legend,
                r#"<rect x="{x:.1}" y="{}" width="12" height="12" fill="{color}"/><text x="{:.1}" y="{}" font-size="12">{}</text>"#,
                TOP - 26.0,
                x + 16.0,
                TOP - 16.0,
                escape(name)
            );
            x += 30.0 + 7.0 * name.chars().count() as f64;
        }
        svg_element(
            self.width,
            self.height,
            title,
            &format!("{legend}{}", self.body),
        )
    }
}

/// An `<svg>` element with an accessible title.
pub fn svg_element(width: f64, height: f64, title: &str, body: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" role="img"><title>{}</title>{body}</svg>"#,
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_ends_and_log_decades() {
        let linear = Scale::new(0.0, 10.0, false, 100.0, 200.0);
        assert_eq!(linear.map(0.0), 100.0);
        assert_eq!(linear.map(5.0), 150.0);
        assert_eq!(linear.map(99.0), 200.0, "clamped to the frame");
        let log = Scale::new(1.0, 1000.0, true, 0.0, 300.0);
        assert!((log.map(10.0) - 100.0).abs() < 1e-9);
        assert!((log.map(100.0) - 200.0).abs() < 1e-9);
        assert_eq!(log.ticks(), vec![1.0, 10.0, 100.0, 1000.0]);
    }

    #[test]
    fn linear_ticks_are_round_and_inside() {
        // A range of 0.14 wants ~5 ticks of 0.028: rounded up to the 1-2-5 step 0.05.
        let ticks = Scale::new(0.83, 0.97, false, 0.0, 1.0).ticks();
        let labels: Vec<String> = ticks.iter().map(|&t| tick_label(t)).collect();
        assert_eq!(labels, ["0.85", "0.9", "0.95"]);
        assert!(ticks.iter().all(|t| (0.83..=0.97).contains(t)));
        assert_eq!(tick_label(2000.0), "2000");
        assert_eq!(tick_label(0.0), "0");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"a<b & "c""#), "a&lt;b &amp; &quot;c&quot;");
    }
}
