//! Zero-shot classification over cached features: no training. Every label is
//! described in words; the descriptions are embedded by the same encoder, with the
//! same pooling, as the texts; a text's class is the label whose descriptions it is
//! most similar to (cosine, averaged over the label's descriptions).

use serde::{Deserialize, Serialize};

/// The template used when a label has no description of its own.
pub const DEFAULT_TEMPLATE: &str = "This text is about {label}.";

/// Softmax temperature that turns similarities into the `probabilities` written with
/// predictions: cosines of one encoder differ by a few hundredths, so a small
/// temperature keeps the ranking visible. They rank; they are not calibrated.
pub const SIMILARITY_TEMPERATURE: f32 = 0.05;

/// One or more descriptions of each label, in the labels' order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelDescriptions {
    /// The class names.
    pub labels: Vec<String>,
    /// Each class's descriptions, same order as `labels`.
    pub descriptions: Vec<Vec<String>>,
}

impl LabelDescriptions {
    /// One description per label: `template` with `{label}` replaced by the label, its
    /// `-` and `_` read as spaces (`money-fx` → "money fx").
    pub fn from_template(labels: &[String], template: &str) -> Result<Self, String> {
        if !template.contains("{label}") {
            return Err(format!(
                "template {template:?} has no {{label}} to fill in, e.g. {DEFAULT_TEMPLATE:?}"
            ));
        }
        Ok(Self {
            labels: labels.to_vec(),
            descriptions: labels
                .iter()
                .map(|l| vec![template.replace("{label}", &l.replace(['-', '_'], " "))])
                .collect(),
        })
    }

    /// `(label index, description)` for every description, labels in order.
    pub fn texts(&self) -> Vec<(usize, &str)> {
        self.descriptions
            .iter()
            .enumerate()
            .flat_map(|(i, texts)| texts.iter().map(move |t| (i, t.as_str())))
            .collect()
    }
}

/// A zero-shot classifier: per label, the mean of its descriptions' unit vectors,
/// and an offset that calibration may set.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroShot {
    /// The class names, in the order of its scores.
    pub labels: Vec<String>,
    dim: usize,
    /// `labels.len() × dim`, row-major.
    centroids: Vec<f32>,
    /// Subtracted from each label's similarity (0 until calibrated).
    offsets: Vec<f32>,
}

fn unit(v: &[f32]) -> impl Iterator<Item = f32> + '_ {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(move |x| x / norm)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl ZeroShot {
    /// From the description vectors (`owners[j]` the label of row `j` of `vectors`,
    /// each `dim` wide). The mean cosine with a label's descriptions is the dot
    /// product of the text's unit vector with the mean of their unit vectors.
    pub fn new(labels: Vec<String>, owners: &[usize], vectors: &[f32], dim: usize) -> Self {
        let k = labels.len();
        let mut centroids = vec![0.0f32; k * dim];
        let mut counts = vec![0usize; k];
        for (row, &label) in vectors.chunks_exact(dim).zip(owners) {
            for (c, x) in centroids[label * dim..(label + 1) * dim]
                .iter_mut()
                .zip(unit(row))
            {
                *c += x;
            }
            counts[label] += 1;
        }
        for (centroid, &n) in centroids.chunks_exact_mut(dim).zip(&counts) {
            centroid.iter_mut().for_each(|c| *c /= n.max(1) as f32);
        }
        Self {
            offsets: vec![0.0; k],
            labels,
            dim,
            centroids,
        }
    }

    /// `rows × labels` scores: the mean cosine similarity of each text with each
    /// label's descriptions, minus the label's calibration offset.
    pub fn scores(&self, features: &[f32]) -> Vec<f32> {
        features
            .chunks_exact(self.dim)
            .flat_map(|row| {
                let x: Vec<f32> = unit(row).collect();
                self.centroids
                    .chunks_exact(self.dim)
                    .zip(&self.offsets)
                    .map(move |(c, offset)| dot(&x, c) - offset)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Prior correction from unlabeled texts: each label's mean similarity over them
    /// becomes its offset, so a label that is close to every text (a generic
    /// description, a frequent word) stops winning by default.
    pub fn calibrate(&mut self, unlabeled: &[f32]) {
        self.offsets = vec![0.0; self.labels.len()];
        let scores = self.scores(unlabeled);
        let rows = scores.len() / self.labels.len().max(1);
        let mut means = vec![0.0f32; self.labels.len()];
        for row in scores.chunks_exact(self.labels.len()) {
            means.iter_mut().zip(row).for_each(|(m, s)| *m += s);
        }
        self.offsets = means.into_iter().map(|m| m / rows.max(1) as f32).collect();
    }

    /// The offsets calibration set (zeros before).
    pub fn offsets(&self) -> &[f32] {
        &self.offsets
    }

    /// The best label of each row of `scores`.
    pub fn predict(&self, scores: &[f32]) -> Vec<usize> {
        metrics::argmax_rows(scores, self.labels.len())
    }

    /// Softmax of `scores / SIMILARITY_TEMPERATURE`, row by row.
    pub fn probabilities(&self, scores: &[f32]) -> Vec<f32> {
        scores
            .chunks_exact(self.labels.len())
            .flat_map(|row| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = row
                    .iter()
                    .map(|s| ((s - max) / SIMILARITY_TEMPERATURE).exp())
                    .collect();
                let sum: f32 = exps.iter().sum();
                exps.into_iter().map(move |e| e / sum)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scores_are_mean_cosines_with_each_labels_descriptions() {
        // Label a: descriptions along x and along y; label b: along -x (scaled, so
        // only directions count).
        let zs = ZeroShot::new(
            labels(&["a", "b"]),
            &[0, 0, 1],
            &[2.0, 0.0, 0.0, 5.0, -3.0, 0.0],
            2,
        );
        // The text (3, 4): cosines 0.6 and 0.8 with a's, -0.6 with b's.
        let scores = zs.scores(&[3.0, 4.0]);
        assert!((scores[0] - 0.7).abs() < 1e-6, "{scores:?}");
        assert!((scores[1] + 0.6).abs() < 1e-6, "{scores:?}");
        assert_eq!(zs.predict(&scores), vec![0]);
        let p = zs.probabilities(&scores);
        let expected = 1.0 / (1.0 + (-1.3f32 / SIMILARITY_TEMPERATURE).exp());
        assert!((p[0] - expected).abs() < 1e-6 && (p[0] + p[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn calibration_subtracts_each_labels_mean_similarity() {
        let mut zs = ZeroShot::new(labels(&["a", "b"]), &[0, 1], &[1.0, 0.0, 0.0, 1.0], 2);
        // Every unlabeled text leans to a: (1, 0) and (1, 1)/√2 … a's mean cosine
        // (1 + 1/√2) / 2, b's (0 + 1/√2) / 2.
        zs.calibrate(&[1.0, 0.0, 1.0, 1.0]);
        let r = std::f32::consts::FRAC_1_SQRT_2;
        assert!((zs.offsets()[0] - (1.0 + r) / 2.0).abs() < 1e-6);
        assert!((zs.offsets()[1] - r / 2.0).abs() < 1e-6);
        // A text at 40° from a: a wins raw, b once the prior is taken out.
        let text = [40f32.to_radians().cos(), 40f32.to_radians().sin()];
        let raw = ZeroShot::new(labels(&["a", "b"]), &[0, 1], &[1.0, 0.0, 0.0, 1.0], 2);
        assert_eq!(raw.predict(&raw.scores(&text)), vec![0]);
        assert_eq!(zs.predict(&zs.scores(&text)), vec![1]);
    }

    #[test]
    fn templates_name_the_label_in_words() {
        let d = LabelDescriptions::from_template(&labels(&["money-fx", "grain"]), DEFAULT_TEMPLATE)
            .unwrap();
        assert_eq!(
            d.texts(),
            vec![
                (0, "This text is about money fx."),
                (1, "This text is about grain.")
            ]
        );
        assert!(LabelDescriptions::from_template(&labels(&["a"]), "no slot").is_err());
    }
}
