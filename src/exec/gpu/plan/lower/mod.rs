//! Lowering graph nodes to GPU dispatches, one file per op family; each adds methods to the
//! plan's builder.

mod activation;
mod attention;
mod categorical;
mod conv;
mod conv_lstm;
mod dense;
mod dot;
mod layout;
mod merge;
mod norm;
mod pad;
mod pool;
mod recurrent;
mod resample;
mod sequence;
