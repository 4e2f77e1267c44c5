//! Every activation keqv runs, with the options that take different code paths: the list the
//! op-problem, GPU kernel and activation tests iterate over.

use keqv::graph::Activation;

/// Keras 3's general relu (no tf-keras threshold form).
pub fn relu(negative_slope: f32, max_value: Option<f32>, threshold: f32) -> Activation {
    Activation::Relu {
        negative_slope,
        max_value,
        threshold,
        threshold_by_product: false,
    }
}

pub fn all_activations() -> Vec<Activation> {
    vec![
        Activation::Linear,
        Activation::RELU,
        relu(0.0, Some(6.0), 0.0),
        relu(0.1, None, 0.0),
        relu(0.3, Some(2.5), 0.5),
        Activation::Relu {
            negative_slope: 0.0,
            max_value: Some(2.5),
            threshold: 0.5,
            threshold_by_product: true,
        },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Elu { alpha: 1.0 },
        Activation::Elu { alpha: 0.7 },
        Activation::Selu,
        Activation::Softplus,
        Activation::Softsign,
        Activation::Silu,
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::HardSigmoid { slope: 0.2 },
        Activation::HardSigmoid { slope: 1.0 / 6.0 },
        Activation::HardSilu,
        Activation::Exponential,
        Activation::Mish,
        Activation::Softmax,
        Activation::LogSoftmax,
        relu(0.0, None, -1.0),
    ]
}
