//! Backpropagation through the whole BERT, checked against central finite differences
//! on a tiny random model with a padded batch.

mod common;

use bert::burn::module::{Module, Param};
use bert::burn::tensor::{Device, Distribution, Gradients, Int, Tensor, TensorData};
use bert::{BertConfig, BertInput, BertModel, HiddenAct};
use common::to_vec;

fn tiny_config(dropout: f64) -> BertConfig {
    BertConfig {
        vocab_size: 50,
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 64,
        hidden_act: HiddenAct::Gelu,
        hidden_dropout_prob: dropout,
        attention_probs_dropout_prob: dropout,
        max_position_embeddings: 16,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        position_embedding_type: "absolute".into(),
        initializer_range: 0.2,
    }
}

/// Two sequences; the second is padded (mask 0) after four tokens.
fn batch(device: &Device) -> BertInput {
    let ids = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [2, 6]), device);
    BertInput {
        input_ids: ids(vec![2, 11, 12, 13, 14, 3, 2, 21, 22, 3, 0, 0]),
        token_type_ids: ids(vec![0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]),
        attention_mask: ids(vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
        states: None,
    }
}

/// A scalar that depends on every output of real tokens and on the pooler.
fn loss(
    model: &BertModel,
    input: &BertInput,
    weights: &Tensor<3>,
    pooler_weights: &Tensor<2>,
) -> Tensor<1> {
    let output = model.forward(input);
    let mask = input.attention_mask.clone().float().unsqueeze_dim::<3>(2);
    let tokens = (output.last_hidden_state * weights.clone() * mask).sum();
    let pooled = (output.pooler_output.unwrap() * pooler_weights.clone()).sum();
    tokens + pooled
}

/// Checks the directional derivative of the loss along a random unit direction of one
/// parameter (one check covers every entry): autodiff against central differences.
/// The absolute floor of the tolerance is f32 rounding in the loss (~1e-6 of a loss of
/// order 10) divided by 2·EPS: about 5e-4, so relative errors are taken against at
/// least 5e-2.
fn check_parameter<const D: usize>(
    name: &str,
    model: &BertModel,
    access: fn(&mut BertModel) -> &mut Param<Tensor<D>>,
    grads: &Gradients,
    loss_of: &dyn Fn(&BertModel) -> f64,
) {
    const EPS: f64 = 1e-2;
    let param = access(&mut model.clone()).val();
    let grad = param
        .grad(grads)
        .unwrap_or_else(|| panic!("{name} has no gradient"));
    let direction = param.random_like(Distribution::Normal(0.0, 1.0));
    let norm = direction.clone().square().sum().sqrt().into_scalar::<f32>();
    let direction = direction.div_scalar(norm);
    let analytic = (grad * direction.clone()).sum().into_scalar::<f32>() as f64;
    let shifted = |sign: f64| {
        let mut m = model.clone();
        let p = access(&mut m);
        *p = Param::from_tensor((p.val() + direction.clone().mul_scalar(sign * EPS)).detach());
        loss_of(&m)
    };
    let numeric = (shifted(1.0) - shifted(-1.0)) / (2.0 * EPS);
    let error = (numeric - analytic).abs() / analytic.abs().max(5e-2);
    assert!(
        error < 2e-2,
        "{name}: analytic {analytic}, numeric {numeric}"
    );
}

#[test]
fn gradients_match_finite_differences_for_every_kind_of_parameter() {
    let _turn = testkit::rng_turn();
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = BertModel::new(&tiny_config(0.0), true, &device);
    let input = batch(&device);
    let weights = Tensor::<3>::random([2, 6, 32], Distribution::Normal(0.0, 1.0), &device);
    let pooler_weights = Tensor::<2>::random([2, 32], Distribution::Normal(0.0, 1.0), &device);
    let grads = loss(&model, &input, &weights, &pooler_weights).backward();
    let loss_of =
        |m: &BertModel| loss(m, &input, &weights, &pooler_weights).into_scalar::<f32>() as f64;

    let check2 = |name, access| check_parameter::<2>(name, &model, access, &grads, &loss_of);
    check2("word_embeddings", |m| {
        &mut m.embeddings.word_embeddings.weight
    });
    check2("position_embeddings", |m| {
        &mut m.embeddings.position_embeddings.weight
    });
    check2("token_type_embeddings", |m| {
        &mut m.embeddings.token_type_embeddings.weight
    });
    check2("layer 0 query", |m| {
        &mut m.encoder.layer[0].attention.self_attention.query.weight
    });
    check2("layer 1 value", |m| {
        &mut m.encoder.layer[1].attention.self_attention.value.weight
    });
    check2("layer 0 attention output", |m| {
        &mut m.encoder.layer[0].attention.output.dense.weight
    });
    check2("layer 0 intermediate", |m| {
        &mut m.encoder.layer[0].intermediate.dense.weight
    });
    check2("layer 1 output", |m| {
        &mut m.encoder.layer[1].output.dense.weight
    });
    check2("pooler", |m| &mut m.pooler.as_mut().unwrap().dense.weight);

    let check1 = |name, access| check_parameter::<1>(name, &model, access, &grads, &loss_of);
    // Not the key bias: softmax ignores a shift shared by all keys, so its gradient is 0.
    check1("layer 0 query bias", |m| {
        m.encoder.layer[0]
            .attention
            .self_attention
            .query
            .bias
            .as_mut()
            .unwrap()
    });
    check1("layer 1 value bias", |m| {
        m.encoder.layer[1]
            .attention
            .self_attention
            .value
            .bias
            .as_mut()
            .unwrap()
    });
    check1("layer 1 attention LayerNorm gamma", |m| {
        &mut m.encoder.layer[1].attention.output.layer_norm.gamma
    });
    check1("layer 1 output LayerNorm beta", |m| {
        m.encoder.layer[1].output.layer_norm.beta.as_mut().unwrap()
    });
    check1("embedding LayerNorm gamma", |m| {
        &mut m.embeddings.layer_norm.gamma
    });
}

#[test]
fn padding_receives_no_gradient_and_changes_no_output() {
    let _turn = testkit::rng_turn();
    let device = Device::flex().autodiff();
    let model = BertModel::new(&tiny_config(0.0), true, &device);
    let input = batch(&device);
    // The padded sequence alone, unpadded, must give the same states for its tokens.
    let alone = {
        let ids = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [1, 4]), &device);
        BertInput {
            input_ids: ids(vec![2, 21, 22, 3]),
            token_type_ids: ids(vec![0, 0, 0, 0]),
            attention_mask: ids(vec![1, 1, 1, 1]),
            states: None,
        }
    };
    let batched = to_vec(
        model
            .forward(&input)
            .last_hidden_state
            .narrow(0, 1, 1)
            .narrow(1, 0, 4),
    );
    let single = to_vec(model.forward(&alone).last_hidden_state);
    assert!(common::max_abs_diff(&batched, &single) < 1e-5);

    // Word-embedding rows used only by padding ([PAD] = 0 here) get no gradient from real tokens.
    let weights = Tensor::<3>::ones([2, 6, 32], &device);
    let pooler_weights = Tensor::<2>::ones([2, 32], &device);
    let grads = loss(&model, &input, &weights, &pooler_weights).backward();
    let word_grad = model
        .embeddings
        .word_embeddings
        .weight
        .val()
        .grad(&grads)
        .unwrap();
    let pad_row = to_vec(word_grad.clone().narrow(0, 0, 1));
    assert!(
        pad_row.iter().all(|&g| g == 0.0),
        "the [PAD] row got a gradient"
    );
    assert!(to_vec(word_grad.narrow(0, 21, 1)).iter().any(|&g| g != 0.0));
}

#[test]
fn dropout_acts_only_when_training() {
    let _turn = testkit::rng_turn();
    let config = tiny_config(0.5);
    let training = Device::flex().autodiff();
    let model = BertModel::new(&config, false, &training);
    let input = batch(&training);
    let a = to_vec(model.forward(&input).last_hidden_state);
    let b = to_vec(model.forward(&input).last_hidden_state);
    assert!(
        common::max_abs_diff(&a, &b) > 1e-3,
        "dropout did nothing in training"
    );

    // The validation snapshot of the same weights (no autodiff, dropout off): deterministic.
    let frozen = model.valid();
    let input = batch(&Device::flex());
    let c = to_vec(frozen.forward(&input).last_hidden_state);
    let d = to_vec(frozen.forward(&input).last_hidden_state);
    assert_eq!(c, d);
}

/// A batch entering above layer 1 from stored states trains the layers above exactly
/// as the whole model does: the gradients of its top layer and pooler, computed from
/// the states alone, match central differences of the loss through every layer (no
/// states), and the layers below get none.
#[test]
fn gradients_from_stored_states_match_finite_differences_of_the_whole_model() {
    let _turn = testkit::rng_turn();
    let device = Device::flex().autodiff();
    device.seed(11);
    let model = BertModel::new(&tiny_config(0.0), true, &device);
    let input = batch(&device);
    let weights = Tensor::<3>::random([2, 6, 32], Distribution::Normal(0.0, 1.0), &device);
    let pooler_weights = Tensor::<2>::random([2, 32], Distribution::Normal(0.0, 1.0), &device);

    // The states after layer 1, real tokens only (6 and 4), as a cache stores them.
    let below = to_vec(model.bottom_states(&input, 1)[1].clone());
    let lengths = vec![6, 4];
    let real: Vec<f32> = [(0, 6), (1, 4)]
        .iter()
        .flat_map(|&(row, len)| below[row * 6 * 32..(row * 6 + len) * 32].to_vec())
        .collect();
    let states = bert::InMemoryStates::new(1, 32, lengths, real);
    let from_states = input.clone().with_states(&states, &[0, 1]);

    let grads = loss(&model, &from_states, &weights, &pooler_weights).backward();
    let whole =
        |m: &BertModel| loss(m, &input, &weights, &pooler_weights).into_scalar::<f32>() as f64;
    let check2 = |name, access| check_parameter::<2>(name, &model, access, &grads, &whole);
    check2("layer 1 query", |m| {
        &mut m.encoder.layer[1].attention.self_attention.query.weight
    });
    check2("layer 1 intermediate", |m| {
        &mut m.encoder.layer[1].intermediate.dense.weight
    });
    check2("layer 1 output", |m| {
        &mut m.encoder.layer[1].output.dense.weight
    });
    check2("pooler", |m| &mut m.pooler.as_mut().unwrap().dense.weight);
    let check1 = |name, access| check_parameter::<1>(name, &model, access, &grads, &whole);
    check1("layer 1 output LayerNorm gamma", |m| {
        &mut m.encoder.layer[1].output.layer_norm.gamma
    });

    // Nothing below the entry point ran, so nothing there has a gradient.
    assert!(
        model.encoder.layer[0]
            .intermediate
            .dense
            .weight
            .val()
            .grad(&grads)
            .is_none()
    );
    assert!(
        model
            .embeddings
            .word_embeddings
            .weight
            .val()
            .grad(&grads)
            .is_none()
    );
}
