//! Distillation's value and gradient against closed forms computed here in f64.

use burn::tensor::{Device, Int, Tensor, TensorData};
use training::{CrossEntropy, DistillationLoss, SoftTargets, soft_targets};

const STUDENT: [[f64; 3]; 2] = [[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]];
const TEACHER: [[f64; 3]; 2] = [[1.0, 0.0, 2.0], [-0.5, 2.5, 0.0]];
const TARGETS: [usize; 2] = [0, 2];

fn softmax(row: &[f64; 3], t: f64) -> [f64; 3] {
    let max = row.iter().cloned().fold(f64::MIN, f64::max);
    let exp = row.map(|v| ((v - max) / t).exp());
    let sum: f64 = exp.iter().sum();
    exp.map(|e| e / sum)
}

fn tensor(values: [[f64; 3]; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::from(values.map(|r| r.map(|v| v as f32))),
        device,
    )
}

fn targets(device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::from(TARGETS.map(|t| t as i64)), device)
}

#[test]
fn value_is_the_mixed_kl_and_label_loss() {
    let device = Device::flex();
    for (t, alpha) in [(1.0, 0.5), (4.0, 0.9), (2.0, 0.0)] {
        let loss = DistillationLoss {
            temperature: t,
            alpha,
        };
        let soft = soft_targets(tensor(TEACHER, &device), t);
        let value = loss
            .forward(
                tensor(STUDENT, &device),
                soft,
                targets(&device),
                &CrossEntropy::default(),
            )
            .into_scalar::<f32>() as f64;
        let mut kl = 0.0;
        let mut ce = 0.0;
        for i in 0..2 {
            let (q, p) = (softmax(&TEACHER[i], t), softmax(&STUDENT[i], t));
            kl += (0..3).map(|c| q[c] * (q[c] / p[c]).ln()).sum::<f64>();
            ce -= softmax(&STUDENT[i], 1.0)[TARGETS[i]].ln();
        }
        let expected = alpha * t * t * kl / 2.0 + (1.0 - alpha) * ce / 2.0;
        assert!(
            (value - expected).abs() < 1e-5,
            "T {t}, α {alpha}: {value} vs {expected}"
        );
    }
}

#[test]
fn gradient_pulls_the_softened_student_towards_the_teacher() {
    let device = Device::flex().autodiff();
    let (t, alpha) = (3.0, 0.7);
    let student = tensor(STUDENT, &device).require_grad();
    let soft = soft_targets(tensor(TEACHER, &device), t);
    let grads = DistillationLoss {
        temperature: t,
        alpha,
    }
    .forward(
        student.clone(),
        soft,
        targets(&device),
        &CrossEntropy::default(),
    )
    .backward();
    let grad: Vec<f32> = student
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_into_vec_as()
        .unwrap();
    // d/ds of T²·KL is T·(softmax(s/T) − q); of the label loss softmax(s) − one-hot.
    for i in 0..2 {
        let (q, p_t, p) = (
            softmax(&TEACHER[i], t),
            softmax(&STUDENT[i], t),
            softmax(&STUDENT[i], 1.0),
        );
        for c in 0..3 {
            let one_hot = if c == TARGETS[i] { 1.0 } else { 0.0 };
            let expected = (alpha * t * (p_t[c] - q[c]) + (1.0 - alpha) * (p[c] - one_hot)) / 2.0;
            let got = grad[i * 3 + c] as f64;
            assert!(
                (got - expected).abs() < 1e-5,
                "[{i}][{c}]: {got} vs {expected}"
            );
        }
    }
}

#[test]
fn a_student_equal_to_its_teacher_has_no_soft_loss() {
    let device = Device::flex();
    let loss = DistillationLoss {
        temperature: 2.0,
        alpha: 1.0,
    };
    let soft = soft_targets(tensor(TEACHER, &device), 2.0);
    let value = loss
        .forward(
            tensor(TEACHER, &device),
            soft,
            targets(&device),
            &CrossEntropy::default(),
        )
        .into_scalar::<f32>();
    assert!(value.abs() < 1e-6, "{value}");
    assert!(
        DistillationLoss {
            temperature: 0.0,
            alpha: 0.5
        }
        .validate()
        .is_err()
    );
    assert!(
        DistillationLoss {
            temperature: 2.0,
            alpha: 1.5
        }
        .validate()
        .is_err()
    );
}

#[test]
fn soft_targets_from_probabilities_are_the_softened_logits_averaged_over_teachers() {
    // Each teacher known only by its probabilities softmax(z): softening log p at T
    // must give softmax(z / T), and an ensemble the mean of its members'.
    let flat = |rows: [[f64; 3]; 2], t: f64| -> Vec<f64> {
        rows.iter().flat_map(|r| softmax(r, t)).collect()
    };
    let probabilities = |rows| {
        flat(rows, 1.0)
            .iter()
            .map(|&p| p as f32)
            .collect::<Vec<_>>()
    };
    for t in [1.0, 2.0, 5.0] {
        let single = SoftTargets::from_probabilities(&[probabilities(TEACHER)], 3, t);
        let pair = SoftTargets::from_probabilities(
            &[probabilities(TEACHER), probabilities(STUDENT)],
            3,
            t,
        );
        let (teacher, other) = (flat(TEACHER, t), flat(STUDENT, t));
        for i in 0..6 {
            let (mean, one) = ((teacher[i] + other[i]) / 2.0, teacher[i]);
            assert!(
                (single.values[i] as f64 - one).abs() < 1e-6,
                "T {t}: {single:?}"
            );
            assert!(
                (pair.values[i] as f64 - mean).abs() < 1e-6,
                "T {t}: {pair:?}"
            );
        }
    }
    let targets = SoftTargets::from_probabilities(&[probabilities(TEACHER)], 3, 2.0);
    assert_eq!(targets.rows(), 2);
    assert_eq!(targets.subset(&[1]).values, targets.values[3..].to_vec());
}
