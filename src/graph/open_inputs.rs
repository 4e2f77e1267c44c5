//! Input dimensions a model leaves open (`None` in its config) and what settles them: the
//! user's `--input-shape NAME=D1,D2,…`, else the shapes of the arrays in the `--inputs` file
//! (only their headers are read). Every mistake names the input, its declared shape, how many
//! dimensions it needs and which are open, and the flag to pass.

use std::collections::HashMap;
use std::path::Path;

use super::build::declared_dims;
use crate::error::{Error, Result};
use crate::inputs;
use crate::keras::KerasModel;

/// One model input as its file declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredInput {
    /// The InputLayer's name, which `--input-shape` and `.npz` keys use.
    pub name: String,
    /// One sample's dimensions (the batch left out); None where open.
    pub dims: Vec<Option<usize>>,
}

impl DeclaredInput {
    pub fn is_open(&self) -> bool {
        self.dims.contains(&None)
    }

    /// Whether `dims` can be this input's: as many, and equal wherever it declares a size.
    pub fn fits(&self, dims: &[usize]) -> bool {
        dims.len() == self.dims.len()
            && self
                .dims
                .iter()
                .zip(dims)
                .all(|(d, g)| d.is_none_or(|d| d == *g))
    }

    /// As Keras prints it, the batch first: `(None, None, 64)`.
    pub fn describe(&self) -> String {
        crate::tensor::describe_open_sample_shape(&self.dims)
    }

    /// The names of the open dimensions, D1 for the first dimension after the batch: the
    /// placeholders of [`template`](Self::template).
    fn open_names(&self) -> Vec<String> {
        self.dims
            .iter()
            .enumerate()
            .filter(|(_, d)| d.is_none())
            .map(|(i, _)| format!("D{}", i + 1))
            .collect()
    }

    /// The `--input-shape` value this input takes, open dimensions as placeholders:
    /// `tokens=D1,64`.
    pub fn template(&self) -> String {
        let dims: Vec<String> = self
            .dims
            .iter()
            .enumerate()
            .map(|(i, d)| d.map_or(format!("D{}", i + 1), |d| d.to_string()))
            .collect();
        format!("{}={}", self.name, dims.join(","))
    }

    /// What `--input-shape` must give for this input: "input 'tokens' is (None, None, 64),
    /// the batch first: --input-shape tokens=D1,64 needs 2 dimensions (D1 open)".
    pub fn needs(&self) -> String {
        let open = self.open_names();
        format!(
            "input '{}' is {}, the batch first: --input-shape {} needs {} dimension{} ({})",
            self.name,
            self.describe(),
            self.template(),
            self.dims.len(),
            if self.dims.len() == 1 { "" } else { "s" },
            if open.is_empty() {
                "none open".to_string()
            } else {
                format!("{} open", and_list(&open))
            }
        )
    }

    /// "input 'tokens' is (None, None, 64), the batch first, and leaves D1 open".
    pub fn leaves_open(&self) -> String {
        format!(
            "input '{}' is {}, the batch first, and leaves {} open",
            self.name,
            self.describe(),
            and_list(&self.open_names())
        )
    }
}

/// The inputs of `model` (of its outermost model) in order. An InputLayer whose shape cannot
/// be read is left out: building the graph reports it.
pub fn declared_inputs(model: &KerasModel) -> Vec<DeclaredInput> {
    model
        .model
        .inputs
        .iter()
        .filter_map(|r| model.model.layer(&r.layer))
        .filter(|l| l.class_name == "InputLayer")
        .filter_map(|l| {
            Some(DeclaredInput {
                name: l.name.clone(),
                dims: declared_dims(l).ok()?,
            })
        })
        .collect()
}

/// Whether the command being run takes an input file, which can settle open dimensions too.
#[derive(Clone, Copy, Debug)]
pub enum InputsFlag<'a> {
    /// The command has no `--inputs` (convert).
    NotTaken,
    /// The command only looks at the model (inspect): open dimensions nothing settles stay
    /// open, and the graph build leaves what depends on them unknown.
    Inspected,
    NotGiven,
    Given(&'a Path),
}

/// The per-sample shape of every open input of each of `models` (models fed the same inputs:
/// verify's original and converted), by input name, from the `--input-shape` flags and else
/// from the `--inputs` file. A flag must name an input of one of the models; a flag and a file
/// that disagree are an error; an open input that nothing settles is an error saying which
/// flag to pass.
pub fn settle(
    models: &[&KerasModel],
    flags: &[String],
    inputs: InputsFlag,
) -> Result<Vec<HashMap<String, Vec<usize>>>> {
    let declared: Vec<Vec<DeclaredInput>> = models.iter().map(|m| declared_inputs(m)).collect();
    let given = parse_flags(flags, &declared)?;
    let open = declared.iter().flatten().any(DeclaredInput::is_open);
    let file = match inputs {
        InputsFlag::Given(path) if open || !given.is_empty() => {
            Some((path, file_shapes(path, &declared)?))
        }
        _ => None,
    };
    models
        .iter()
        .zip(&declared)
        .enumerate()
        .map(|(m, (model, inputs_of))| {
            let mut shapes = HashMap::new();
            let mut unsettled = Vec::new();
            for (i, input) in inputs_of.iter().enumerate() {
                let from_file = file.as_ref().and_then(|(path, per_model)| {
                    per_model[m][i]
                        .as_ref()
                        .map(|shape| (*path, shape.as_slice()))
                });
                match settle_one(input, given.get(&input.name), from_file)? {
                    Some(shape) => {
                        shapes.insert(input.name.clone(), shape);
                    }
                    None if input.is_open() => unsettled.push(input),
                    None => {}
                }
            }
            if !unsettled.is_empty() && !matches!(inputs, InputsFlag::Inspected) {
                return Err(unsettled_error(model, &unsettled, inputs_of.len(), inputs));
            }
            Ok(shapes)
        })
        .collect()
}

/// The shape one input takes: the flag's (checked against the declaration and the file), else
/// the file's where the input is open; None when neither applies.
fn settle_one(
    input: &DeclaredInput,
    flag: Option<&Vec<usize>>,
    file: Option<(&Path, &[usize])>,
) -> Result<Option<Vec<usize>>> {
    if let Some(given) = flag {
        if !input.fits(given) {
            return Err(Error::Usage(format!(
                "--input-shape {}={}: {}",
                input.name,
                join_dims(given),
                input.needs()
            )));
        }
        if let Some((path, shape)) = file {
            if shape.get(1..) != Some(given.as_slice()) {
                return Err(Error::Usage(format!(
                    "--input-shape {}={} conflicts with {}, whose array for '{}' is {}: drop --input-shape, or make them agree; {}",
                    input.name,
                    join_dims(given),
                    path.display(),
                    input.name,
                    describe_array(shape),
                    input.needs()
                )));
            }
        }
        return Ok(Some(given.clone()));
    }
    match file {
        Some((path, shape)) if input.is_open() => {
            let sample = shape.get(1..).unwrap_or_default();
            if !input.fits(sample) || sample.contains(&0) {
                return Err(Error::Input(format!(
                    "{}: the array for input '{}' is {}, but the input is {}, the batch first: give an array of shape (N, {})",
                    path.display(),
                    input.name,
                    describe_array(shape),
                    input.describe(),
                    input
                        .template()
                        .split_once('=')
                        .map_or("", |(_, dims)| dims)
                        .replace(',', ", ")
                )));
            }
            Ok(Some(sample.to_vec()))
        }
        _ => Ok(None),
    }
}

fn unsettled_error(
    model: &KerasModel,
    open: &[&DeclaredInput],
    inputs: usize,
    flag: InputsFlag,
) -> Error {
    let what = open
        .iter()
        .map(|i| i.leaves_open())
        .collect::<Vec<_>>()
        .join("; ");
    let flags = open
        .iter()
        .map(|i| format!("--input-shape {}", i.template()))
        .collect::<Vec<_>>()
        .join(" ");
    let file = match flag {
        InputsFlag::NotTaken | InputsFlag::Inspected => String::new(),
        _ if inputs == 1 => format!(
            ", or --inputs FILE.npy whose array settles {}",
            if open[0].open_names().len() == 1 {
                "it"
            } else {
                "them"
            }
        ),
        _ => format!(
            ", or --inputs FILE.npz with an array per input ({})",
            open.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Error::Input(format!(
        "{}: {what}: pass {flags} (D a size){file}",
        model.path.display()
    ))
}

/// Parses `NAME=D1,D2,…` flags; a name must be an input of one of the models.
fn parse_flags(
    flags: &[String],
    declared: &[Vec<DeclaredInput>],
) -> Result<HashMap<String, Vec<usize>>> {
    let find = |name: &str| declared.iter().flatten().find(|i| i.name == name);
    flags
        .iter()
        .map(|flag| {
            let (name, dims) = flag.split_once('=').unwrap_or((flag.as_str(), ""));
            let name = name.trim();
            let Some(input) = find(name) else {
                return Err(unknown_input(flag, name, declared));
            };
            let dims = dims
                .split(',')
                .map(|d| d.trim().parse::<usize>().ok().filter(|&d| d > 0))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--input-shape '{flag}' is not NAME=D1,D2,… with sizes of at least 1; {}",
                        input.needs()
                    ))
                })?;
            Ok((name.to_string(), dims))
        })
        .collect()
}

fn unknown_input(flag: &str, name: &str, declared: &[Vec<DeclaredInput>]) -> Error {
    let list = |inputs: &[DeclaredInput]| {
        let each: Vec<String> = inputs
            .iter()
            .map(|i| {
                format!(
                    "'{}' {} (--input-shape {})",
                    i.name,
                    i.describe(),
                    i.template()
                )
            })
            .collect();
        if each.is_empty() {
            "none readable".to_string()
        } else {
            and_list(&each)
        }
    };
    let (whose, listed) = match declared {
        [one] => (
            "the model has no input",
            format!("the model's inputs are {}", list(one)),
        ),
        [original, converted] => (
            "neither model has an input",
            format!(
                "the original's inputs are {}, the converted's {}",
                list(original),
                list(converted)
            ),
        ),
        _ => (
            "no model has an input",
            declared
                .iter()
                .map(|d| list(d))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    let what = if flag.contains('=') {
        format!("--input-shape {flag}: {whose} named '{name}'")
    } else {
        format!("--input-shape '{flag}' is not NAME=D1,D2,…")
    };
    Error::Usage(format!("{what}; {listed}"))
}

/// The shapes (batch first) of the arrays of `path` for each model's inputs, in input order,
/// read from the headers only. The file is matched to the first model's inputs as `--inputs`
/// is (by name, else `arr_0, arr_1, …`); another model's inputs take the array of the input of
/// the same name, else of the same position, as verify feeds them.
#[allow(clippy::type_complexity)]
fn file_shapes(
    path: &Path,
    declared: &[Vec<DeclaredInput>],
) -> Result<Vec<Vec<Option<Vec<usize>>>>> {
    let Some(first) = declared.first() else {
        return Ok(Vec::new());
    };
    let names: Vec<&str> = first.iter().map(|i| i.name.as_str()).collect();
    let shapes = inputs::file_shapes(path, &names)?;
    Ok(declared
        .iter()
        .map(|inputs_of| {
            inputs_of
                .iter()
                .enumerate()
                .map(|(i, input)| {
                    names
                        .iter()
                        .position(|n| *n == input.name)
                        .or((inputs_of.len() == names.len()).then_some(i))
                        .map(|k| shapes[k].clone())
                })
                .collect()
        })
        .collect())
}

/// `5,64`.
pub fn join_dims(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// An array's shape as NumPy prints it: `(8, 7, 64)`.
fn describe_array(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> DeclaredInput {
        DeclaredInput {
            name: "tokens".into(),
            dims: vec![None, Some(64)],
        }
    }

    #[test]
    fn an_input_says_what_it_needs() {
        let t = tokens();
        assert_eq!(t.describe(), "(None, None, 64)");
        assert_eq!(t.template(), "tokens=D1,64");
        assert_eq!(
            t.needs(),
            "input 'tokens' is (None, None, 64), the batch first: --input-shape tokens=D1,64 needs 2 dimensions (D1 open)"
        );
        assert!(t.fits(&[7, 64]));
        assert!(!t.fits(&[7, 32]));
        assert!(!t.fits(&[7]));
        let two_open = DeclaredInput {
            name: "x".into(),
            dims: vec![None, Some(3), None],
        };
        assert_eq!(
            two_open.leaves_open(),
            "input 'x' is (None, None, 3, None), the batch first, and leaves D1 and D3 open"
        );
    }

    #[test]
    fn a_flag_wins_over_the_file_only_when_they_agree() {
        let t = tokens();
        let path = Path::new("in.npy");
        let flag = vec![7, 64];
        assert_eq!(
            settle_one(&t, Some(&flag), Some((path, &[8, 7, 64]))).unwrap(),
            Some(vec![7, 64])
        );
        let err = settle_one(&t, Some(&flag), Some((path, &[8, 9, 64])))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--input-shape tokens=7,64 conflicts with in.npy, whose array for 'tokens' is (8, 9, 64)"),
            "{err}"
        );
        assert_eq!(
            settle_one(&t, None, Some((path, &[8, 9, 64]))).unwrap(),
            Some(vec![9, 64])
        );
        let err = settle_one(&t, None, Some((path, &[8, 9, 32])))
            .unwrap_err()
            .to_string();
        assert!(err.contains("give an array of shape (N, D1, 64)"), "{err}");
        assert_eq!(settle_one(&t, None, None).unwrap(), None);
    }
}
