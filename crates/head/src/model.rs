use std::fmt;
use std::str::FromStr;

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The architecture of a head: no hidden layer is softmax (multinomial logistic)
/// regression; hidden layers make an MLP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    /// Widths of the hidden layers; empty for softmax regression.
    pub hidden: Vec<usize>,
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
    /// `linear` or hidden widths joined by `x` (`512x256`), as on the command line.
    pub fn shape_name(&self) -> String {
        if self.hidden.is_empty() {
            "linear".into()
        } else {
            let widths: Vec<String> = self.hidden.iter().map(usize::to_string).collect();
            format!("mlp-{}", widths.join("x"))
        }
    }

    /// Parses `linear` or `512x256` into hidden widths.
    pub fn parse_hidden(s: &str) -> Result<Vec<usize>, String> {
        if s == "linear" || s == "none" || s.is_empty() {
            return Ok(Vec::new());
        }
        s.split('x')
            .map(|w| match w.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "bad hidden sizes {s:?}: expected linear or widths like 512x256"
                )),
            })
            .collect()
    }
}

/// The non-linearity of MLP heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Gelu,
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

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::Tanh => "tanh",
        })
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "relu" => Ok(Activation::Relu),
            "gelu" => Ok(Activation::Gelu),
            "tanh" => Ok(Activation::Tanh),
            _ => Err(format!(
                "unknown activation {s:?}: expected relu, gelu or tanh"
            )),
        }
    }
}

/// A classifier over feature vectors: `[batch, dim]` in, `[batch, classes]` logits out.
#[derive(Module, Debug)]
pub struct Head {
    pub hidden: Vec<HiddenLayer>,
    pub output: Linear,
}

/// `dropout(activation(norm(W x + b)))`.
#[derive(Module, Debug)]
pub struct HiddenLayer {
    pub linear: Linear,
    pub norm: Option<BatchNorm>,
    pub dropout: Dropout,
    #[module(skip)]
    activation: Activation,
}

impl Head {
    pub fn new(config: &HeadConfig, dim: usize, classes: usize, device: &Device) -> Self {
        let mut width = dim;
        let hidden = config
            .hidden
            .iter()
            .map(|&out| {
                let layer = HiddenLayer {
                    linear: LinearConfig::new(width, out).init(device),
                    norm: config
                        .batch_norm
                        .then(|| BatchNormConfig::new(out).init(device)),
                    dropout: DropoutConfig::new(config.dropout).init(),
                    activation: config.activation,
                };
                width = out;
                layer
            })
            .collect();
        Self {
            hidden,
            output: LinearConfig::new(width, classes).init(device),
        }
    }

    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        let x = self.hidden.iter().fold(features, |x, layer| {
            let x = layer.linear.forward(x);
            let x = match &layer.norm {
                Some(norm) => norm.forward(x),
                None => x,
            };
            layer.dropout.forward(layer.activation.apply(x))
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
