//! keqv: prove or disprove that a converted Keras model computes the same function as its
//! original.
//!
//! Data flow: `keras` reads a file into a [`keras::KerasModel`]; `graph::build` turns it into a
//! [`graph::Graph`]; an [`exec::Executor`] runs it; `compare` measures two runs; `report`
//! renders the verdict.

pub mod cli;
pub mod commands;
pub mod compare;
pub mod config;
pub mod convert;
pub mod document;
pub mod error;
pub mod exec;
pub mod graph;
pub mod html;
pub mod inputs;
pub mod keras;
pub mod npy;
pub mod ops;
pub mod progress;
pub mod report;
pub mod stream;
pub mod suite;
pub mod tensor;
pub mod verify;

pub use error::{Error, Result};
