//! The `.npy` header: its signature, the dtypes keqv reads (and how their values become f32),
//! and the header it writes.

use crate::tensor::checked_len;

pub(super) const MAGIC: &[u8] = b"\x93NUMPY";

/// "WHAT: not a valid .npy array: DETAIL", with what to do unless the detail says it.
pub(super) fn invalid(what: &str, detail: String) -> String {
    if detail.contains("; ") {
        format!("{what}: not a valid .npy array: {detail}")
    } else {
        format!("{what}: not a valid .npy array: {detail}; write it with numpy.save(FILE, x.astype('float32'))")
    }
}

/// The header of the `.npy` image `bytes` starts with, and where its data begins.
pub(super) fn read_header(bytes: &[u8]) -> std::result::Result<(Header, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("missing the \\x93NUMPY signature".into());
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported format version {v}")),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| "header longer than the file".to_string())?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text".to_string())?;
    Ok((Header::parse(header)?, end))
}

/// Longest `.npy` header read when only the shape is wanted (NumPy writes a few hundred bytes).
pub(super) const MAX_HEADER: usize = 1 << 20;

#[derive(Clone, Copy, Debug)]
pub(super) enum Dtype {
    F16 { big: bool },
    F32 { big: bool },
    F64 { big: bool },
    I8,
    I16 { big: bool },
    I32 { big: bool },
    I64 { big: bool },
    U8,
    U16 { big: bool },
    U32 { big: bool },
    U64 { big: bool },
    Bool,
}

/// Largest integer magnitude read from a file: every integer up to 2^24 is exactly an f32, and
/// 2^24 + 1 is the first that is not.
pub const MAX_EXACT_INTEGER: u64 = 1 << 24;

/// An integer of a file that f32 cannot hold exactly: its value and its position in the data.
#[derive(Debug, PartialEq)]
pub(super) struct Inexact {
    pub(super) value: i128,
    pub(super) position: usize,
}

/// The bytes of one element, in the file's byte order, as a native array.
fn element<const N: usize>(c: &[u8], big: bool) -> [u8; N] {
    let mut b: [u8; N] = c.try_into().expect("chunks of the element size");
    if big != cfg!(target_endian = "big") {
        b.reverse();
    }
    b
}

/// Every integer of `values` as f32, or the first one whose magnitude exceeds 2^24.
fn exact<T: Into<i128>>(values: impl Iterator<Item = T>) -> Result<Vec<f32>, Inexact> {
    const LIMIT: i128 = MAX_EXACT_INTEGER as i128;
    values
        .enumerate()
        .map(|(position, v)| {
            let value: i128 = v.into();
            if (-LIMIT..=LIMIT).contains(&value) {
                Ok(value as f32)
            } else {
                Err(Inexact { value, position })
            }
        })
        .collect()
}

impl Dtype {
    fn parse(descr: &str) -> std::result::Result<Self, String> {
        let big = descr.starts_with('>');
        match descr.trim_start_matches(['<', '>', '=', '|']) {
            "f2" => Ok(Dtype::F16 { big }),
            "f4" => Ok(Dtype::F32 { big }),
            "f8" => Ok(Dtype::F64 { big }),
            "i1" => Ok(Dtype::I8),
            "i2" => Ok(Dtype::I16 { big }),
            "i4" => Ok(Dtype::I32 { big }),
            "i8" => Ok(Dtype::I64 { big }),
            "u1" => Ok(Dtype::U8),
            "u2" => Ok(Dtype::U16 { big }),
            "u4" => Ok(Dtype::U32 { big }),
            "u8" => Ok(Dtype::U64 { big }),
            "b1" => Ok(Dtype::Bool),
            other => Err(format!(
                "dtype '{descr}' is not a float, integer or bool ({other}); save the array as float32 (x.astype('float32')), or token ids as int32"
            )),
        }
    }

    /// NumPy's name of the type.
    pub(super) fn name(self) -> &'static str {
        match self {
            Dtype::F16 { .. } => "float16",
            Dtype::F32 { .. } => "float32",
            Dtype::F64 { .. } => "float64",
            Dtype::I8 => "int8",
            Dtype::I16 { .. } => "int16",
            Dtype::I32 { .. } => "int32",
            Dtype::I64 { .. } => "int64",
            Dtype::U8 => "uint8",
            Dtype::U16 { .. } => "uint16",
            Dtype::U32 { .. } => "uint32",
            Dtype::U64 { .. } => "uint64",
            Dtype::Bool => "bool",
        }
    }

    pub(super) fn size(self) -> usize {
        match self {
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
            Dtype::F16 { .. } | Dtype::I16 { .. } | Dtype::U16 { .. } => 2,
            Dtype::F32 { .. } | Dtype::I32 { .. } | Dtype::U32 { .. } => 4,
            Dtype::F64 { .. } | Dtype::I64 { .. } | Dtype::U64 { .. } => 8,
        }
    }

    /// The values of `data` (a whole number of elements) as f32: floats rounded to nearest,
    /// integers exactly (or the first one f32 cannot hold: its magnitude exceeds 2^24), bools
    /// as 0 and 1 (any nonzero byte is true, as in NumPy).
    pub(super) fn decode(self, data: &[u8]) -> Result<Vec<f32>, Inexact> {
        let n = self.size();
        let chunks = data.chunks_exact(n);
        match self {
            Dtype::F16 { big } => Ok(chunks
                .map(|c| half::f16::from_bits(u16::from_ne_bytes(element(c, big))).to_f32())
                .collect()),
            Dtype::F32 { big } => Ok(chunks
                .map(|c| f32::from_ne_bytes(element(c, big)))
                .collect()),
            Dtype::F64 { big } => Ok(chunks
                .map(|c| f64::from_ne_bytes(element(c, big)) as f32)
                .collect()),
            // Every int8, uint8 and int16/uint16 fits; the check is kept for one code path.
            Dtype::I8 => exact(data.iter().map(|&b| b as i8)),
            Dtype::U8 => exact(data.iter().copied()),
            Dtype::Bool => Ok(data.iter().map(|&b| f32::from(b != 0)).collect()),
            Dtype::I16 { big } => exact(chunks.map(|c| i16::from_ne_bytes(element(c, big)))),
            Dtype::I32 { big } => exact(chunks.map(|c| i32::from_ne_bytes(element(c, big)))),
            Dtype::I64 { big } => exact(chunks.map(|c| i64::from_ne_bytes(element(c, big)))),
            Dtype::U16 { big } => exact(chunks.map(|c| u16::from_ne_bytes(element(c, big)))),
            Dtype::U32 { big } => exact(chunks.map(|c| u32::from_ne_bytes(element(c, big)))),
            Dtype::U64 { big } => exact(chunks.map(|c| u64::from_ne_bytes(element(c, big)))),
        }
    }
}

pub(super) struct Header {
    pub(super) dtype: Dtype,
    pub(super) fortran_order: bool,
    pub(super) shape: Vec<usize>,
}

impl Header {
    /// Parses the Python dict literal NumPy writes, e.g.
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (8, 784), }`.
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let descr = Self::field(text, "descr")?;
        let descr = descr.trim().trim_matches(['\'', '"']);
        let fortran = Self::field(text, "fortran_order")?;
        let fortran_order = match fortran.trim() {
            "True" => true,
            "False" => false,
            other => return Err(format!("fortran_order is '{other}'")),
        };
        let shape_text = Self::field(text, "shape")?;
        let inner = shape_text
            .trim()
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| format!("shape '{shape_text}' is not a tuple"))?;
        let shape = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("shape entry '{s}' is not a size"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Header {
            dtype: Dtype::parse(descr)?,
            fortran_order,
            shape,
        })
    }

    /// The text of one value in the dict: up to the next top-level comma (tuples kept whole).
    fn field<'a>(text: &'a str, key: &str) -> std::result::Result<&'a str, String> {
        let pattern_single = format!("'{key}':");
        let pattern_double = format!("\"{key}\":");
        let at = text
            .find(&pattern_single)
            .map(|i| i + pattern_single.len())
            .or_else(|| text.find(&pattern_double).map(|i| i + pattern_double.len()))
            .ok_or_else(|| format!("header has no '{key}'"))?;
        let rest = &text[at..];
        let mut depth = 0i32;
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' | '}' if depth == 0 => return Ok(&rest[..i]),
                _ => {}
            }
        }
        Err(format!("header value of '{key}' is not terminated"))
    }
}

/// The header of a version 1.0 little-endian float32 `.npy` of `shape`, padded so that the
/// data starts on a 64-byte boundary, as NumPy does.
pub(super) fn header_bytes(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let dims = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Bytes of a float32 `.npy` of `shape`, header included; None when no file could hold it.
pub fn npy_len(shape: &[usize]) -> Option<u64> {
    let values = checked_len(shape)? as u64;
    values
        .checked_mul(4)?
        .checked_add(header_bytes(shape).len() as u64)
}
