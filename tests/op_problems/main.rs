//! Each op family of the CPU executor against a plain reference, one file per family:
//! generated problems (shapes with odd sizes and size 1, random values, every option of the op)
//! are run through the executor's own evaluation of one node and compared with a float64 loop
//! written from Keras's formulas. The GPU kernels are checked against the CPU executor in
//! gpu_kernels.rs, and the whole chain against Keras's own outputs in golden.rs.

#[path = "../common/mod.rs"]
mod common;
mod plain;

mod activation;
mod attention;
mod conv;
mod conv_lstm;
mod dense;
mod dot;
mod gemm;
mod layout;
mod merge;
mod norm;
mod pad;
mod per_step;
mod pool;
mod recurrent;
mod resample;
mod scale;
