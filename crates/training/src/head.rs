use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig, Linear};
use burn::tensor::activation::{gelu, relu};
use burn::tensor::{Device, Tensor, TensorData};
use data::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::HiddenSizes;

/// The architecture of a head: no hidden layer is softmax (multinomial logistic)
/// regression; hidden layers make an MLP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    /// Widths of the hidden layers; empty for softmax regression.
    pub hidden: Vec<usize>,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// Dropout after each hidden layer (training only).
    pub dropout: f64,
    /// Batch normalisation before each hidden activation.
    pub batch_norm: bool,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            hidden: Vec::new(),
            activation: Activation::Relu,
            dropout: 0.0,
            batch_norm: false,
        }
    }
}

impl HeadConfig {
    /// Checks the shape and the dropout rate.
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        if self.hidden.contains(&0) {
            return Err(settings::SettingError::new(
                "hidden",
                self.shape_name(),
                "every hidden layer needs a width of at least 1",
            ));
        }
        settings::rate("dropout", self.dropout)
    }

    /// `linear`, or `mlp-` and the hidden widths as [`HiddenSizes`] writes them
    /// (`mlp-512x256`).
    pub fn shape_name(&self) -> String {
        match HiddenSizes(self.hidden.clone()) {
            linear if linear.is_linear() => linear.to_string(),
            widths => format!("mlp-{widths}"),
        }
    }
}

/// The non-linearity of MLP heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// The rectified linear unit.
    #[default]
    Relu,
    /// The exact, erf-based GELU.
    Gelu,
    /// The hyperbolic tangent.
    Tanh,
}

impl Activation {
    fn apply(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Relu => relu(x),
            Activation::Gelu => gelu(x),
            Activation::Tanh => x.tanh(),
        }
    }
}

settings::serde_names!(Activation);

/// A classifier over feature vectors: `[batch, dim]` in, `[batch, classes]` logits out.
///
/// Its randomness (initial weights, dropout masks) comes from a generator the caller
/// owns, never from burn's process-global one: a seed then determines a head even
/// when several heads train at once on different threads, as sweeps do.
#[derive(Module, Debug)]
pub struct Head {
    /// The hidden layers, input side first.
    pub hidden: Vec<HiddenLayer>,
    /// The projection to one logit per class.
    pub output: Linear,
}

/// `dropout(activation(norm(W x + b)))`.
#[derive(Module, Debug)]
pub struct HiddenLayer {
    /// The affine map.
    pub linear: Linear,
    /// Batch normalisation before the activation, when asked for.
    pub norm: Option<BatchNorm>,
    #[module(skip)]
    dropout: f64,
    #[module(skip)]
    activation: Activation,
}

impl Head {
    /// A new head with weights drawn from `rng`: U(−1/√fan_in, 1/√fan_in), the
    /// default of PyTorch's and burn's Linear.
    pub fn new(
        config: &HeadConfig,
        dim: usize,
        classes: usize,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Self {
        let mut width = dim;
        let hidden = config
            .hidden
            .iter()
            .map(|&out| {
                let layer = HiddenLayer {
                    linear: seeded_linear(width, out, rng, device),
                    norm: config
                        .batch_norm
                        .then(|| BatchNormConfig::new(out).init(device)),
                    dropout: config.dropout,
                    activation: config.activation,
                };
                width = out;
                layer
            })
            .collect();
        Self {
            hidden,
            output: seeded_linear(width, classes, rng, device),
        }
    }

    /// Logits for prediction: no dropout.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        self.run(features, None)
    }

    /// Logits for a training step: dropout masks are drawn from `rng`.
    pub fn forward_train(&self, features: Tensor<2>, rng: &mut SplitMix64) -> Tensor<2> {
        self.run(features, Some(rng))
    }

    fn run(&self, features: Tensor<2>, mut rng: Option<&mut SplitMix64>) -> Tensor<2> {
        let x = self.hidden.iter().fold(features, |x, layer| {
            let x = layer.linear.forward(x);
            let x = match &layer.norm {
                Some(norm) => norm.forward(x),
                None => x,
            };
            let x = layer.activation.apply(x);
            match rng.as_deref_mut() {
                Some(rng) if layer.dropout > 0.0 => {
                    x.clone() * dropout_mask(&x, layer.dropout, rng)
                }
                _ => x,
            }
        });
        self.output.forward(x)
    }

    /// Σ|w| over the weight matrices (not biases or norms): the L1 penalty.
    pub fn l1_norm(&self) -> Tensor<1> {
        self.hidden
            .iter()
            .map(|l| &l.linear)
            .chain(std::iter::once(&self.output))
            .map(|linear| linear.weight.val().abs().sum())
            .reduce(|a, b| a + b)
            .expect("a head has an output layer")
    }
}

fn seeded_linear(d_in: usize, d_out: usize, rng: &mut SplitMix64, device: &Device) -> Linear {
    let bound = 1.0 / (d_in as f64).sqrt();
    let mut uniform = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| ((2.0 * rng.unit() - 1.0) * bound) as f32)
            .collect()
    };
    let weight = Tensor::<2>::from_data(
        TensorData::new(uniform(d_in * d_out), [d_in, d_out]),
        device,
    );
    let bias = Tensor::<1>::from_data(TensorData::new(uniform(d_out), [d_out]), device);
    Linear {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
    }
}

/// Inverted dropout: each unit kept with probability `1 − p` and scaled by `1/(1 − p)`.
fn dropout_mask(like: &Tensor<2>, p: f64, rng: &mut SplitMix64) -> Tensor<2> {
    let [rows, cols] = like.dims();
    let scale = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..rows * cols)
        .map(|_| if rng.unit() < p { 0.0 } else { scale })
        .collect();
    Tensor::<2>::from_data(TensorData::new(mask, [rows, cols]), &like.device())
}
