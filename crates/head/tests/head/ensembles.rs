//! Bagging, boosting (SAMME) and the combination rules, against closed forms and
//! recomputations from the members.

use burn::tensor::Device;
use data::SplitMix64;
use head::{Combine, Features, TrainConfig, bag, boost, train_head};
use metrics::argmax_rows;

fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.unit() + f64::MIN_POSITIVE;
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Three overlapping Gaussian classes in 6 dimensions.
fn classes(n: usize, seed: u64) -> Features {
    let means = [
        [1.0, 0.0, 0.5, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.5, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0, 0.5, 1.0],
    ];
    let mut rng = SplitMix64::new(seed);
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for i in 0..3 * n {
        let class = i % 3;
        values.extend(means[class].iter().map(|m| (m + normal(&mut rng)) as f32));
        labels.push(class);
    }
    Features::new(values, 6, labels)
}

fn names() -> Vec<String> {
    ["a", "b", "c"].map(String::from).to_vec()
}

fn quick() -> TrainConfig {
    TrainConfig {
        epochs: 15,
        ..TrainConfig::default()
    }
}

#[test]
fn combining_is_the_weighted_mean_or_the_weighted_vote_share() {
    let first = vec![0.6, 0.3, 0.1, 0.2, 0.2, 0.6];
    let second = vec![0.2, 0.7, 0.1, 0.1, 0.8, 0.1];
    let members = [first, second];
    let mean = Combine::Mean.apply(&members, &[1.0, 3.0], 3);
    let expected = [0.3, 0.6, 0.1, 0.125, 0.65, 0.225];
    assert!(
        mean.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
        "{mean:?}"
    );
    // Row 0: votes a (1) and b (3); row 1: votes c (1) and b (3).
    let vote = Combine::Vote.apply(&members, &[1.0, 3.0], 3);
    assert_eq!(vote, vec![0.25, 0.75, 0.0, 0.0, 0.75, 0.25]);
}

#[test]
fn example_weights_reach_the_loss() {
    // Weighing class c down to almost nothing makes the head all but ignore it.
    let device = Device::flex();
    let (train, valid) = (classes(100, 1), classes(60, 2));
    let weights = train
        .classes()
        .iter()
        .map(|&y| if y == 2 { 1e-3 } else { 1.0 })
        .collect();
    let plain = train_head(&train, &valid, &names(), &quick(), &device).unwrap();
    let weighted = train_head(
        &train.clone().with_example_weights(weights),
        &valid,
        &names(),
        &quick(),
        &device,
    )
    .unwrap();
    let predicted_c = |head: &head::TrainedHead| {
        let predicted = argmax_rows(&head.predict_proba(&valid, &device), 3);
        predicted.iter().filter(|&&p| p == 2).count()
    };
    assert!(
        predicted_c(&weighted) * 2 < predicted_c(&plain),
        "c predicted {} times weighted, {} plain",
        predicted_c(&weighted),
        predicted_c(&plain)
    );
}

#[test]
fn bagging_trains_each_member_on_its_own_bootstrap_and_averages_them() {
    let device = Device::flex();
    let (train, valid) = (classes(60, 3), classes(60, 4));
    let ensemble = bag(
        &train,
        &valid,
        &names(),
        &quick(),
        5,
        Combine::Mean,
        &device,
    )
    .unwrap();
    assert_eq!(ensemble.members.len(), 5);
    assert_eq!(ensemble.weights, vec![1.0; 5]);
    // Different samples, different heads.
    let first = ensemble.members[0].predict_proba(&valid, &device);
    let second = ensemble.members[1].predict_proba(&valid, &device);
    assert_ne!(first, second);
    // The ensemble's probabilities are its members' mean.
    let combined = ensemble.predict_proba(&valid, &device);
    let members: Vec<Vec<f32>> = ensemble
        .members
        .iter()
        .map(|m| m.predict_proba(&valid, &device))
        .collect();
    for (i, &p) in combined.iter().enumerate() {
        let mean = members.iter().map(|m| m[i]).sum::<f32>() / 5.0;
        assert!((p - mean).abs() < 1e-6);
    }
    let best = ensemble.best_member().valid_report.main();
    assert!(
        ensemble.valid_report.macro_f1 > best - 0.03,
        "{} vs best member {best}",
        ensemble.valid_report.macro_f1
    );
    // Reproducible under the seed.
    let again = bag(
        &train,
        &valid,
        &names(),
        &quick(),
        5,
        Combine::Mean,
        &device,
    )
    .unwrap();
    assert_eq!(again.predict_proba(&valid, &device), combined);
}

#[test]
fn boosting_weighs_members_by_sammes_alpha_and_votes() {
    let device = Device::flex();
    let (train, valid) = (classes(60, 5), classes(60, 6));
    let ensemble = boost(&train, &valid, &names(), &quick(), 4, &device).unwrap();
    // The classes overlap: no member is perfect or as bad as chance, so all 4
    // rounds keep their member.
    assert_eq!(ensemble.members.len(), 4);
    assert_eq!(ensemble.combine, Combine::Vote);
    // SAMME by hand from the members' own training predictions: each α is
    // ln((1 − err)/err) + ln(K − 1) of its weighted error, and the example weights
    // grow by exp(α) where it erred (renormalised to mean 1) for the next member.
    let mut weights = vec![1.0f64; train.rows];
    let mut predictions = Vec::new();
    for (k, member) in ensemble.members.iter().enumerate() {
        let predicted = argmax_rows(&member.predict_proba(&train, &device), 3);
        let wrong: Vec<bool> = predicted
            .iter()
            .zip(train.classes())
            .map(|(p, y)| p != y)
            .collect();
        let error = weights
            .iter()
            .zip(&wrong)
            .filter(|(_, w)| **w)
            .map(|(w, _)| w)
            .sum::<f64>()
            / weights.iter().sum::<f64>();
        assert!(
            error > 0.0 && error < 2.0 / 3.0,
            "member {k}: error {error}"
        );
        let alpha = ((1.0 - error) / error).ln() + 2f64.ln();
        assert!(
            (ensemble.weights[k] - alpha).abs() < 1e-9,
            "member {k}: α {} vs {alpha}",
            ensemble.weights[k]
        );
        for (w, &is_wrong) in weights.iter_mut().zip(&wrong) {
            if is_wrong {
                *w *= alpha.exp();
            }
        }
        let mean = weights.iter().sum::<f64>() / train.rows as f64;
        weights.iter_mut().for_each(|w| *w /= mean);
        predictions.push(predicted);
    }
    // Later members saw the misclassified examples weighted up: they differ.
    assert_ne!(predictions[0], predictions[1]);
    // The ensemble's prediction is the α-weighted vote of its members.
    let votes: Vec<Vec<usize>> = ensemble
        .members
        .iter()
        .map(|m| argmax_rows(&m.predict_proba(&valid, &device), 3))
        .collect();
    let combined = argmax_rows(&ensemble.predict_proba(&valid, &device), 3);
    for row in 0..valid.rows {
        let mut score = [0.0; 3];
        for (member, alpha) in votes.iter().zip(&ensemble.weights) {
            score[member[row]] += alpha;
        }
        let top = (0..3)
            .max_by(|&a, &b| score[a].total_cmp(&score[b]))
            .unwrap();
        assert!(score[combined[row]] == score[top], "row {row}");
    }
}
