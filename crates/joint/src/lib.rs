//! End-to-end mode: BERT and a classification head fine-tuned together. Filled in by
//! the end-to-end issue; empty until then.
