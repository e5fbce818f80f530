//! Pipeline mode, stage 2: classifiers (softmax regression, MLPs) trained over the
//! features the `encoder` crate caches. Filled in by the pipeline-mode issue; empty
//! until then.
