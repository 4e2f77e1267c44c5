//! The order of a Functional model's `layers`, as Keras computes it when it builds the model
//! (Keras 3's `map_graph`, tf-keras's `_map_graph_network`, the same algorithm): a depth-first
//! walk from the outputs back through each call's input tensors numbers the layers as it first
//! meets them; each call's depth is the longest way from it to an output (a shared layer takes
//! the deepest of its calls); layers are listed deepest first, ties in walk order.
//!
//! A Functional model written with its layers in another order loads, but Keras then numbers
//! the weight groups of a `.keras` file (`layers/dense_1`) and lists the weights of a legacy
//! `.h5` file in its own order, so a writer must use this one.

use std::collections::HashMap;

/// One call of a layer inside the model.
#[derive(Clone, Debug)]
pub struct Call {
    /// The layer called: calls with the same number call one (shared) layer.
    pub layer: usize,
    /// The calls whose outputs it takes, in Keras's order: the positional arguments, then the
    /// keyword arguments by name. Empty for an input.
    pub parents: Vec<usize>,
}

/// The layers of a model made of `calls`, in Keras's order, from the calls producing its
/// `outputs`; `inputs` are the calls of its InputLayers (one the outputs do not depend on is
/// listed among the last, as Keras lists it).
pub fn layer_order(calls: &[Call], inputs: &[usize], outputs: &[usize]) -> Vec<usize> {
    let (post_order, first_seen) = walk(calls, outputs);
    let mut call_depth: HashMap<usize, usize> = HashMap::new();
    let mut layer_depth: HashMap<usize, usize> = HashMap::new();
    for &c in post_order.iter().rev() {
        let mut depth = *call_depth.entry(c).or_insert(0);
        depth = depth.max(layer_depth.get(&calls[c].layer).copied().unwrap_or(0));
        layer_depth.insert(calls[c].layer, depth);
        call_depth.insert(c, depth);
        for &p in &calls[c].parents {
            let d = call_depth.entry(p).or_insert(0);
            *d = (*d).max(depth + 1);
        }
    }
    // An input the outputs do not depend on: depth 0, before the layers first seen.
    let mut rank: HashMap<usize, i64> = first_seen
        .iter()
        .map(|(&layer, &i)| (layer, i as i64))
        .collect();
    for &i in inputs {
        let layer = calls[i].layer;
        if let std::collections::hash_map::Entry::Vacant(e) = layer_depth.entry(layer) {
            e.insert(0);
            rank.insert(layer, -1);
        }
    }
    let mut layers: Vec<usize> = layer_depth.keys().copied().collect();
    layers.sort_by_key(|l| (std::cmp::Reverse(layer_depth[l]), rank[l]));
    layers
}

/// The depth-first walk from the outputs: the calls in post-order, and for each layer the
/// order in which the walk first met it.
fn walk(calls: &[Call], outputs: &[usize]) -> (Vec<usize>, HashMap<usize, usize>) {
    let mut finished = vec![false; calls.len()];
    let mut post_order = Vec::new();
    let mut first_seen: HashMap<usize, usize> = HashMap::new();
    for &output in outputs {
        // (call, how many of its parents have been walked)
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mut next = Some(output);
        loop {
            if let Some(c) = next.take() {
                // A call met again is walked once; one on the stack would be a cycle, which
                // the model's walk has already refused.
                if !finished[c] && !stack.iter().any(|&(s, _)| s == c) {
                    let n = first_seen.len();
                    first_seen.entry(calls[c].layer).or_insert(n);
                    stack.push((c, 0));
                }
            }
            let Some((c, walked)) = stack.last_mut() else {
                break;
            };
            match calls[*c].parents.get(*walked) {
                Some(&p) => {
                    *walked += 1;
                    next = Some(p);
                }
                None => {
                    finished[*c] = true;
                    post_order.push(*c);
                    stack.pop();
                }
            }
        }
    }
    (post_order, first_seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(layer: usize, parents: &[usize]) -> Call {
        Call {
            layer,
            parents: parents.to_vec(),
        }
    }

    #[test]
    fn deepest_first_then_in_walk_order() {
        // in → a → b; in → c; add(b, c) → out. The walk from out meets add, b, a, in, c.
        let calls = [
            call(0, &[]),     // in
            call(1, &[0]),    // a
            call(2, &[1]),    // b
            call(3, &[0]),    // c
            call(4, &[2, 3]), // add
            call(5, &[4]),    // out
        ];
        // Depths: out 0, add 1, b 2, c 2, a 3, in 4.
        assert_eq!(layer_order(&calls, &[0], &[5]), [0, 1, 2, 3, 4, 5]);
        // With add's operands swapped, c is met before b.
        let mut swapped = calls.to_vec();
        swapped[4] = call(4, &[3, 2]);
        assert_eq!(layer_order(&swapped, &[0], &[5]), [0, 1, 3, 2, 4, 5]);
    }

    #[test]
    fn a_shared_layer_takes_its_deepest_call() {
        // in → s → t → s#1 → out
        let calls = [
            call(0, &[]),
            call(1, &[0]),
            call(2, &[1]),
            call(1, &[2]),
            call(3, &[3]),
        ];
        assert_eq!(layer_order(&calls, &[0], &[4]), [0, 1, 2, 3]);
    }

    #[test]
    fn an_unused_input_comes_first_among_the_last() {
        let calls = [call(0, &[]), call(1, &[]), call(2, &[0])];
        assert_eq!(layer_order(&calls, &[0, 1], &[2]), [0, 1, 2]);
    }
}
