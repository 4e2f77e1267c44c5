//! Keras class name → the op family that reads it: the only place that lists layer classes.

use serde_json::Value;

use super::{
    activation, attention, categorical, conv, dense, dot, layout, merge, norm, pad, pool,
    recurrent, resample, scale, sequence, Op,
};
use crate::keras::Dialect;

/// How one family reads a layer of one of its classes.
struct Layer<'a> {
    class: &'a str,
    config: &'a Value,
    /// The (first) input's sample shape.
    input: &'a [usize],
    dialect: Dialect,
}

impl Layer<'_> {
    /// Rank of the input, batch included.
    fn rank(&self) -> usize {
        self.input.len() + 1
    }
}

type Parser = fn(&Layer) -> Result<Op, String>;

/// The families, each with the classes it reads. Adding a family is one line here.
const FAMILIES: &[(&[&str], Parser)] = &[
    (&["InputLayer"], |_| Ok(Op::Input)),
    (dense::CLASSES, |l| dense::parse(l.config, l.dialect)),
    (activation::CLASSES, |l| {
        activation::parse(l.class, l.config, l.rank(), l.dialect)
    }),
    (layout::IDENTITY_CLASSES, |_| Ok(Op::Identity)),
    (layout::CLASSES, |l| {
        layout::parse(l.class, l.config, l.input)
    }),
    (merge::CLASSES, |l| {
        merge::parse(l.class, l.config, l.rank())
    }),
    (norm::CLASSES, |l| {
        norm::parse(l.class, l.config, l.rank(), l.dialect)
    }),
    (scale::CLASSES, |l| {
        scale::parse(l.class, l.config, l.rank())
    }),
    (pad::CLASSES, |l| pad::parse(l.class, l.config, l.input)),
    (resample::CLASSES, |l| {
        resample::parse(l.class, l.config, l.input)
    }),
    (pool::CLASSES, |l| pool::parse(l.class, l.config, l.input)),
    (conv::CLASSES, |l| {
        conv::parse(l.class, l.config, l.input, l.dialect)
    }),
    (recurrent::CLASSES, |l| {
        recurrent::parse(l.class, l.config, l.input, l.dialect)
    }),
    (sequence::CLASSES, |l| sequence::parse(l.class, l.config)),
    (attention::CLASSES, |l| {
        attention::parse(l.class, l.config, l.dialect)
    }),
    (dot::CLASSES, |l| dot::parse(l.config, l.dialect)),
    (categorical::CLASSES, |l| {
        categorical::parse(l.class, l.config, l.input, l.dialect)
    }),
];

/// Registered (`package>Name`) classes that Keras itself ships, each with the module its
/// `.keras` files name (legacy `.h5` names none): read as the built-in class `Name`. Every other
/// registered class is the user's own, even where its name is a built-in's.
const KERAS_REGISTERED: &[(&str, &str)] = &[(
    "Custom>CustomScaleLayer",
    "applications.inception_resnet_v2",
)];

/// Whether a layer's class is Keras's own: unregistered, or registered by Keras itself (the
/// module, where the file names one, ends as Keras's does).
pub fn is_keras_class(registered: Option<&str>, module: Option<&str>) -> bool {
    registered.is_none_or(|r| {
        KERAS_REGISTERED
            .iter()
            .any(|&(name, home)| name == r && module.is_none_or(|m| m.ends_with(home)))
    })
}

/// Layers the graph builder expands into the layers they wrap or are made of
/// (`graph::build::wrappers`, `graph::build::attention`) rather than reading as one op.
pub const EXPANDED_CLASSES: &[&str] = &[
    "Bidirectional",
    "TimeDistributed",
    "MultiHeadAttention",
    "EinsumDense",
];

/// How many tensors a call of a layer of `class` with `config` and the call's keyword
/// arguments `kwargs` returns: a recurrent layer's states after its output (`return_state`),
/// both directions of a Bidirectional without a merge and then both directions' states,
/// MultiHeadAttention's output and scores (`return_attention_scores`), else one.
pub fn output_count(class: &str, config: &Value, kwargs: &Value) -> usize {
    let flag = |c: &Value, key: &str| c.get(key).and_then(Value::as_bool) == Some(true);
    match class {
        "MultiHeadAttention" | "Attention" | "AdditiveAttention"
            if flag(kwargs, "return_attention_scores") =>
        {
            2
        }
        "LSTM" | "CuDNNLSTM" | "ConvLSTM1D" | "ConvLSTM2D" | "ConvLSTM3D"
            if flag(config, "return_state") =>
        {
            3
        }
        "GRU" | "SimpleRNN" | "CuDNNGRU" if flag(config, "return_state") => 2,
        "RNN" if flag(config, "return_state") => 1 + recurrent::cells::state_count(config),
        "Bidirectional" => {
            let outputs = if config.get("merge_mode") == Some(&Value::Null) {
                2
            } else {
                1
            };
            let states = match crate::keras::weights::wrapped_layer(config, "layer") {
                Some((class, inner)) => output_count(class, inner, &Value::Null) - 1,
                None => 0,
            };
            outputs + 2 * states
        }
        _ => 1,
    }
}

/// Names accepted on the right of `--custom NAME=BUILTIN` that are no layer class.
pub const EXTRA_BUILTINS: &[&str] = &["l2_normalize", "identity"];

/// Every layer class keqv runs, in the registry's order.
pub fn layer_classes() -> impl Iterator<Item = &'static str> {
    FAMILIES
        .iter()
        .flat_map(|(classes, _)| classes.iter().copied())
        .filter(|c| !EXTRA_BUILTINS.contains(c))
        .chain(EXPANDED_CLASSES.iter().copied())
}

/// Whether keqv runs layers of this class.
pub fn is_layer_class(class: &str) -> bool {
    layer_classes().any(|c| c == class)
}

/// The op for a layer of class `class` (or a `--custom` built-in name: a class, an extra
/// built-in or an activation name) with `config`, whose (first) input sample shape is `input`;
/// `None` when no family reads the class.
pub fn translate(
    class: &str,
    config: &Value,
    input: &[usize],
    dialect: Dialect,
) -> Result<Option<Op>, String> {
    let layer = Layer {
        class,
        config,
        input,
        dialect,
    };
    if class == "identity" {
        return Ok(Some(Op::Identity));
    }
    if let Some((_, parse)) = FAMILIES
        .iter()
        .find(|(classes, _)| classes.contains(&class))
    {
        return parse(&layer).map(Some);
    }
    Ok(activation::parse_activation(class, dialect).map(Op::Activation))
}

#[cfg(test)]
mod tests {
    use super::is_keras_class;

    #[test]
    fn a_registered_class_is_the_users_unless_keras_ships_it() {
        assert!(is_keras_class(None, None));
        assert!(is_keras_class(None, Some("keras.layers")));
        // A user's class that shares a built-in's name is still the user's.
        assert!(!is_keras_class(Some("mypkg>Dense"), None));
        assert!(!is_keras_class(Some("Custom>Dense"), Some("keras.layers")));
        // keras.applications' CustomScaleLayer, from either dialect's files.
        let scale = Some("Custom>CustomScaleLayer");
        assert!(is_keras_class(scale, None));
        assert!(is_keras_class(
            scale,
            Some("keras.src.applications.inception_resnet_v2")
        ));
        assert!(!is_keras_class(scale, Some("__main__")));
    }
}
