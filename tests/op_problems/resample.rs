//! UpSampling (nearest, bilinear), Resizing (stretch, crop or pad to the aspect ratio),
//! CenterCrop's resize.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::resample::Aspect;
use keqv::ops::{Interpolation, Resample, Target};
use proptest::prelude::*;

/// Half-pixel centres: output row o of `out` samples (o + ½)·len/out − ½ of `len` rows.
fn position(o: usize, len: usize, out: usize) -> f64 {
    (o as f64 + 0.5) * len as f64 / out as f64 - 0.5
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn resampling_samples_half_pixel_centres(
        batch in 1usize..=2, h in 1usize..=6, w in 1usize..=6, channels in 1usize..=2,
        th in 1usize..=9, tw in 1usize..=9, bilinear: bool, aspect in 0usize..3,
        first: bool, upsample: bool, seed: u64,
    ) {
        let shape: Vec<usize> = if first { vec![batch, channels, h, w] } else { vec![batch, h, w, channels] };
        let x = plain(&shape, seed, 3.0);
        let aspect = [Aspect::Stretch, Aspect::Crop, Aspect::Pad][aspect];
        let target = if upsample {
            Target::Factors(vec![th.div_ceil(3), tw.div_ceil(3)])
        } else {
            Target::Size { height: th, width: tw, aspect }
        };
        let interpolation = if bilinear { Interpolation::Bilinear } else { Interpolation::Nearest };
        let fill = 0.5;
        let op = Op::Resample(Resample { interpolation, channels_first: first, fill, target: target.clone() });
        let got = run(&node(op, &[&x], &[]), &[&x]);
        // Per axis: rows of fill on both sides, the window's start and length, the output size.
        let axis = |n: usize, want: usize, out: usize| -> (usize, usize, usize, usize) {
            match (&target, aspect) {
                (Target::Factors(_), _) | (_, Aspect::Stretch) => (0, 0, n, out),
                (_, Aspect::Crop) => { let len = want.clamp(1, n); (0, (n - len) / 2, len, out) }
                (_, Aspect::Pad) => { let pad = want.saturating_sub(n) / 2; (pad, 0, n + 2 * pad, out) }
            }
        };
        let (rows, cols) = match &target {
            Target::Factors(f) => (axis(h, h, h * f[0]), axis(w, w, w * f[1])),
            Target::Size { height, width, .. } => (
                axis(h, (w * height) as f64 as usize / width, *height),
                axis(w, (h * width) as f64 as usize / height, *width),
            ),
        };
        let out_shape: Vec<usize> = if first {
            vec![batch, channels, rows.3, cols.3]
        } else {
            vec![batch, rows.3, cols.3, channels]
        };
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let value = |b: usize, c: usize, r: isize, q: isize| -> f64 {
            // Padded rows to input rows; the fill outside.
            let (r, q) = (r - rows.0 as isize, q - cols.0 as isize);
            if r < 0 || q < 0 || r >= h as isize || q >= w as isize {
                return fill as f64;
            }
            let (r, q) = (r as usize, q as usize);
            x.data[x.flat(&if first { vec![b, c, r, q] } else { vec![b, r, q, c] })]
        };
        let out = Plain { shape: out_shape, data: vec![] };
        let want: Vec<f64> = (0..got.len()).map(|i| {
            let o = out.index(i);
            let (b, c, oy, ox) = if first { (o[0], o[1], o[2], o[3]) } else { (o[0], o[3], o[1], o[2]) };
            let (y, xx) = (position(oy, rows.2, rows.3), position(ox, cols.2, cols.3));
            if !bilinear {
                let near = |p: f64, a: (usize, usize, usize, usize)| {
                    (a.1 + ((p + 0.5).floor() as usize).min(a.2 - 1)) as isize
                };
                return value(b, c, near(y, rows), near(xx, cols));
            }
            let span = |p: f64, a: (usize, usize, usize, usize)| {
                let clamp = |v: f64| (v.max(0.0) as usize).min(a.2 - 1);
                ((a.1 + clamp(p.floor())) as isize, (a.1 + clamp(p.ceil())) as isize, p - p.floor())
            };
            let ((y0, y1, ty), (x0, x1, tx)) = (span(y, rows), span(xx, cols));
            let top = value(b, c, y0, x0) * (1.0 - tx) + value(b, c, y0, x1) * tx;
            let bottom = value(b, c, y1, x0) * (1.0 - tx) + value(b, c, y1, x1) * tx;
            top * (1.0 - ty) + bottom * ty
        }).collect();
        assert_close(&got, &want, &|_| 4.0, "resample");
    }
}
