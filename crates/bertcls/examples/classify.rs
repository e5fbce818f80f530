//! Load any saved classifier (a fine-tuned model, a pipeline head of any task or an
//! ensemble) and predict a few texts.
//!
//! ```text
//! cargo run --release -p bertcls --example classify -- runs/r8 "oil prices rose" "wheat exports fell"
//! ```

use std::path::PathBuf;

use bertcls::bert::burn::tensor::Device;
use bertcls::data::Record;
use bertcls::training::Targets;
use bertcls::{Classifier, Result};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(args.next().unwrap_or_else(|| "runs/finetune".into()));
    let texts: Vec<String> = args.collect();

    let device = Device::flex();
    // The kind of classifier is read from the folder; `None` keeps its max_len.
    let classifier = Classifier::load(&model, None, &device)?;
    let records: Vec<Record> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| Record {
            id: i.to_string(),
            text: text.clone(),
            text_b: None,
            label: None,
        })
        .collect();
    let scores = classifier.predict_proba(&records, 32, &device, &mut |_| {})?;
    let labels = classifier.labels();
    // The classifier's readout turns its scores into a class, a set of labels or a
    // value, as it was trained to.
    let predicted = classifier.readout().decide(&scores, classifier.outputs());
    for (i, text) in texts.iter().enumerate() {
        let label = match &predicted {
            Targets::Classes(classes) => {
                let class = classes[i];
                format!("{} {:.3}", labels[class], scores[i * labels.len() + class])
            }
            Targets::Tags { labels: n, marks } => {
                let chosen: Vec<&str> = (0..*n)
                    .filter(|&j| marks[i * n + j])
                    .map(|j| labels[j].as_str())
                    .collect();
                chosen.join("|")
            }
            Targets::Values(values) => format!("{:.3}", values[i]),
        };
        println!("{label:<18} {text}");
    }
    Ok(())
}
