//! Where a dataflow with one input and one output can be cut into a chain of blocks.
//!
//! A cut point is a node that every path from the input to the output passes through. With
//! the nodes in a topological order and every node on some input → output path, node `v` is a
//! cut point exactly when no edge `(a, b)` jumps over it (`a < v < b`): such an edge gives a
//! path around `v` (input → `a` → `b` → output, every node of it before or after `v`), and
//! without one, a path going from before `v` to after it must step onto `v`. So one pass over
//! the edges finds them all, whichever topological order the nodes are in.
//!
//! Between two consecutive cut points lies one segment: the nodes after the first up to and
//! including the second. Nothing outside a segment reads its inner nodes, and it reads nothing
//! from outside but the cut point before it. Two things merge segments further: a cut point
//! whose following segment reads more than one of its output tensors (a Sequential model
//! passes one tensor between its layers), and a layer called in two segments (a shared layer
//! must sit in one model, or its weights would be duplicated).

use std::ops::Range;

/// One output tensor of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Outlet {
    pub node: usize,
    pub tensor: usize,
}

/// The dataflow to cut: nodes in a topological order (every input of a node comes before it),
/// node `source` the model's input, every node on a path from it to the output.
pub struct Flow<'a> {
    /// The tensors each node takes.
    pub inputs: &'a [Vec<Outlet>],
    /// The layer each node calls: nodes with the same number call one (shared) layer.
    pub layer: &'a [usize],
    pub source: usize,
    /// The model's output.
    pub output: Outlet,
}

/// A run of consecutive nodes with one input tensor and one output tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub nodes: Range<usize>,
    /// The tensor it takes: an output of the node just before it.
    pub input: Outlet,
    /// The tensor it gives: an output of its last node.
    pub output: Outlet,
}

/// The cut points of a dataflow whose nodes are in a topological order and all lie on paths
/// from `source` to `sink`, in order, `source` and `sink` included.
pub fn cut_points(inputs: &[Vec<usize>], source: usize, sink: usize) -> Vec<usize> {
    // jumps[i]: how many edges start before node i minus how many end at or before it.
    let mut jumps = vec![0i64; inputs.len() + 1];
    for (b, from) in inputs.iter().enumerate() {
        for &a in from {
            debug_assert!(a < b, "nodes out of topological order");
            if b > a + 1 {
                jumps[a + 1] += 1;
                jumps[b] -= 1;
            }
        }
    }
    let mut over = 0;
    let mut cuts = Vec::new();
    for (v, jump) in jumps.iter().enumerate().take(sink + 1) {
        over += jump;
        if v >= source && over == 0 {
            cuts.push(v);
        }
    }
    cuts
}

/// The segments of a flow, from its input to its output, merged where a Sequential model
/// could not pass one tensor between them or a shared layer would be split.
pub fn segments(flow: &Flow) -> Vec<Segment> {
    let nodes: Vec<Vec<usize>> = flow
        .inputs
        .iter()
        .map(|i| i.iter().map(|o| o.node).collect())
        .collect();
    let mut cuts = cut_points(&nodes, flow.source, flow.output.node);
    loop {
        let before = cuts.len();
        cuts = merge_shared_layers(flow, merge_split_tensors(flow, cuts));
        if cuts.len() == before {
            break;
        }
    }
    cuts.windows(2)
        .map(|pair| {
            let (first, last) = (pair[0], pair[1]);
            Segment {
                nodes: first + 1..last + 1,
                input: read_from(flow, first, last).unwrap_or(Outlet {
                    node: first,
                    tensor: 0,
                }),
                output: if last == flow.output.node {
                    flow.output
                } else {
                    read_from(flow, last, usize::MAX).unwrap_or(Outlet {
                        node: last,
                        tensor: 0,
                    })
                },
            }
        })
        .collect()
}

/// The one tensor of `cut` that the nodes after it read (up to node `until`), if one.
fn read_from(flow: &Flow, cut: usize, until: usize) -> Option<Outlet> {
    let end = until.min(flow.inputs.len() - 1);
    (cut + 1..=end)
        .flat_map(|n| flow.inputs[n].iter())
        .find(|o| o.node == cut)
        .copied()
}

/// Drops the inner cut points whose following nodes read more than one of their tensors.
fn merge_split_tensors(flow: &Flow, cuts: Vec<usize>) -> Vec<usize> {
    let last = cuts.len() - 1;
    cuts.iter()
        .enumerate()
        .filter(|&(k, &cut)| {
            if k == 0 || k == last {
                return true;
            }
            let mut read = (cut + 1..=cuts[k + 1])
                .flat_map(|n| flow.inputs[n].iter())
                .filter(|o| o.node == cut)
                .map(|o| o.tensor);
            let first = read.next();
            read.all(|t| Some(t) == first)
        })
        .map(|(_, &cut)| cut)
        .collect()
}

/// Drops the cut points between the first and the last segment that call a layer, for every
/// layer called in more than one segment.
fn merge_shared_layers(flow: &Flow, cuts: Vec<usize>) -> Vec<usize> {
    // The segment of node n is the number of cut points before it.
    let mut segment_of = vec![0usize; flow.inputs.len()];
    let mut k = 0;
    for (n, seg) in segment_of.iter_mut().enumerate() {
        while k < cuts.len() && cuts[k] < n {
            k += 1;
        }
        *seg = k;
    }
    let layers = flow.layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut span: Vec<Option<(usize, usize)>> = vec![None; layers];
    for n in flow.source + 1..=flow.output.node {
        let s = segment_of[n];
        let entry = &mut span[flow.layer[n]];
        *entry = Some(entry.map_or((s, s), |(lo, hi)| (lo.min(s), hi.max(s))));
    }
    // Cut point k separates segments k and k + 1 (segment k ends at cuts[k]).
    let mut dropped = vec![false; cuts.len()];
    for (lo, hi) in span.into_iter().flatten() {
        (lo..hi).for_each(|k| dropped[k] = true);
    }
    cuts.into_iter()
        .enumerate()
        .filter(|(k, _)| !dropped[*k])
        .map(|(_, cut)| cut)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outlet(node: usize) -> Outlet {
        Outlet { node, tensor: 0 }
    }

    /// A DAG on `n` nodes in topological order: node 0 the only source, node n-1 the only
    /// sink, every node on a path between them.
    fn dag(n: usize, picks: &[(usize, usize)]) -> Vec<Vec<usize>> {
        let mut inputs: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut picks = picks.iter().cycle();
        for (i, node) in inputs.iter_mut().enumerate().skip(1) {
            let (count, seed) = *picks.next().unwrap();
            for k in 0..=count % 3 {
                let from = (seed + 7 * k) % i;
                if !node.contains(&from) {
                    node.push(from);
                }
            }
        }
        // Every node but the sink feeds a later node.
        for i in 0..n.saturating_sub(1) {
            if !inputs.iter().any(|ins| ins.contains(&i)) {
                let (_, seed) = *picks.next().unwrap();
                let to = i + 1 + seed % (n - 1 - i);
                inputs[to].push(i);
            }
        }
        inputs
    }

    /// Node v is a cut point when the sink cannot be reached from the source without it.
    fn brute_cut_points(inputs: &[Vec<usize>]) -> Vec<usize> {
        let n = inputs.len();
        let mut consumers = vec![Vec::new(); n];
        for (b, from) in inputs.iter().enumerate() {
            for &a in from {
                consumers[a].push(b);
            }
        }
        (0..n)
            .filter(|&v| {
                if v == 0 || v == n - 1 {
                    return true;
                }
                let mut seen = vec![false; n];
                let mut stack = vec![0];
                while let Some(x) = stack.pop() {
                    if x == v || std::mem::replace(&mut seen[x], true) {
                        continue;
                    }
                    stack.extend(&consumers[x]);
                }
                !seen[n - 1]
            })
            .collect()
    }

    #[test]
    fn the_textbook_skip_connection() {
        // input → dense_x → dense_y → add(dense_x, dense_y) → out
        let inputs = vec![vec![], vec![0], vec![1], vec![1, 2], vec![3]];
        assert_eq!(cut_points(&inputs, 0, 4), [0, 1, 3, 4]);
        let inputs: Vec<Vec<Outlet>> = inputs
            .iter()
            .map(|i| i.iter().map(|&n| outlet(n)).collect())
            .collect();
        let flow = Flow {
            inputs: &inputs,
            layer: &[0, 1, 2, 3, 4],
            source: 0,
            output: outlet(4),
        };
        let ranges: Vec<Range<usize>> = segments(&flow).into_iter().map(|s| s.nodes).collect();
        assert_eq!(ranges, [1..2, 2..4, 4..5]);
    }

    #[test]
    fn a_long_skip_is_one_block() {
        // U-Net-like: 1 → 2 → 3 → cat(1, 3) → 5
        let inputs = vec![vec![], vec![0], vec![1], vec![2], vec![1, 3], vec![4]];
        assert_eq!(cut_points(&inputs, 0, 5), [0, 1, 4, 5]);
    }

    #[test]
    fn reading_two_tensors_of_a_cut_point_merges_its_segments() {
        // 1 returns two tensors (an LSTM's sequence and state); 2 reads both.
        let inputs = vec![
            vec![],
            vec![outlet(0)],
            vec![outlet(1), Outlet { node: 1, tensor: 1 }],
            vec![outlet(2)],
        ];
        let flow = Flow {
            inputs: &inputs,
            layer: &[0, 1, 2, 3],
            source: 0,
            output: outlet(3),
        };
        let segs = segments(&flow);
        assert_eq!(segs[0].nodes, 1..3);
        assert_eq!(segs[1].nodes, 3..4);
        // Reading one tensor other than the first keeps the cut, at that tensor.
        let inputs = vec![vec![], vec![outlet(0)], vec![Outlet { node: 1, tensor: 2 }]];
        let flow = Flow {
            inputs: &inputs,
            layer: &[0, 1, 2],
            source: 0,
            output: outlet(2),
        };
        let segs = segments(&flow);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[1].input, Outlet { node: 1, tensor: 2 });
        assert_eq!(segs[0].output, Outlet { node: 1, tensor: 2 });
    }

    #[test]
    fn a_shared_layer_keeps_its_calls_in_one_segment() {
        // d → shared → e → shared#1 → out: a chain, but shared is called twice.
        let inputs: Vec<Vec<Outlet>> = (0..6)
            .map(|i| if i == 0 { vec![] } else { vec![outlet(i - 1)] })
            .collect();
        let flow = Flow {
            inputs: &inputs,
            layer: &[0, 1, 2, 3, 2, 4],
            source: 0,
            output: outlet(5),
        };
        let ranges: Vec<Range<usize>> = segments(&flow).into_iter().map(|s| s.nodes).collect();
        assert_eq!(ranges, [1..2, 2..5, 5..6]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn cut_points_are_what_brute_force_finds(
            n in 2usize..40,
            picks in proptest::collection::vec((0usize..6, 0usize..1000), 1..80),
        ) {
            let inputs = dag(n, &picks);
            prop_assert_eq!(cut_points(&inputs, 0, n - 1), brute_cut_points(&inputs));
        }

        #[test]
        fn segments_are_closed_and_keep_shared_layers_whole(
            n in 2usize..30,
            picks in proptest::collection::vec((0usize..6, 0usize..1000), 1..60),
            layers in proptest::collection::vec(0usize..40, 30),
        ) {
            let nodes = dag(n, &picks);
            let inputs: Vec<Vec<Outlet>> = nodes
                .iter()
                .map(|i| i.iter().map(|&a| Outlet { node: a, tensor: a % 2 }).collect())
                .collect();
            let layer: Vec<usize> = (0..n).map(|i| layers[i] % (n + 1)).collect();
            let flow = Flow { inputs: &inputs, layer: &layer, source: 0, output: outlet(n - 1) };
            let segs = segments(&flow);
            let cuts = brute_cut_points(&nodes);
            // They cover nodes 1..n in order, each ending at a cut point.
            prop_assert_eq!(segs.first().map(|s| s.nodes.start), Some(1));
            prop_assert_eq!(segs.last().map(|s| s.nodes.end), Some(n));
            for pair in segs.windows(2) {
                prop_assert_eq!(pair[0].nodes.end, pair[1].nodes.start);
            }
            for s in &segs {
                prop_assert!(cuts.contains(&(s.nodes.end - 1)));
                // Every tensor a node reads comes from inside or is the segment's input.
                for v in s.nodes.clone() {
                    for o in &inputs[v] {
                        prop_assert!(s.nodes.contains(&o.node) || *o == s.input, "{:?} reads {:?}", s, o);
                    }
                }
                prop_assert_eq!(s.input.node, s.nodes.start - 1);
            }
            // No layer in two segments.
            for (i, a) in segs.iter().enumerate() {
                for b in &segs[i + 1..] {
                    for v in a.nodes.clone() {
                        prop_assert!(!b.nodes.clone().any(|w| layer[w] == layer[v]));
                    }
                }
            }
        }
    }
}
