//! Load any saved classifier (a fine-tuned model, a pipeline head or an ensemble) and
//! classify a few texts.
//!
//! ```text
//! cargo run --release -p bertcls --example classify -- runs/r8 "oil prices rose" "wheat exports fell"
//! ```

use std::path::PathBuf;

use bertcls::bert::burn::tensor::Device;
use bertcls::data::Record;
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
    let probabilities = classifier.predict_proba(&records, 32, &device, &mut |_| {})?;
    let labels = classifier.labels();
    let predicted = classifier.decision().decide(&probabilities, labels.len());
    for ((text, &class), row) in texts
        .iter()
        .zip(&predicted)
        .zip(probabilities.chunks(labels.len()))
    {
        println!("{:<12} {:.3}  {text}", labels[class], row[class]);
    }
    Ok(())
}
