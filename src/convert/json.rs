//! JSON text exactly as Python's `json.dumps(obj)` writes it, which is how both Keras write
//! `config.json` and `model_config`: `", "` and `": "` separators, every non-ASCII character
//! escaped (`ensure_ascii`), and floats in Python's `repr` form (`1e-05`, `0.001`, `1.0`).

use serde_json::{Number, Value};

/// `json.dumps(value)`.
pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn number(n: &Number) -> String {
    if n.is_u64() || n.is_i64() {
        return n.to_string();
    }
    float_repr(n.as_f64().unwrap_or(f64::NAN))
}

/// Python's `repr(float)`: the shortest digits that read back to the same value, positional
/// when the decimal point falls within 16 digits, scientific (`1e-05`, `1.5e+20`) otherwise.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` also prints the shortest round-trip digits: "-1.5e-7".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    let decpt = exp + 1;
    let sign = if x < 0.0 { "-" } else { "" };
    let body = if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (int, frac) = digits.split_at(decpt as usize);
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{first}{frac}e{esign}{:02}", exp.abs())
    };
    format!("{sign}{body}")
}

/// A JSON string with Python's `ensure_ascii` escaping (lower-case hex, surrogate pairs).
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        for (x, want) in [
            (1.0, "1.0"),
            (0.001, "0.001"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.10000000149011612, "0.10000000149011612"),
            (0.99, "0.99"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123.5, "123.5"),
            (-1.5e-7, "-1.5e-07"),
            (1.2345e20, "1.2345e+20"),
            (-0.0, "-0.0"),
            (1e12, "1000000000000.0"),
        ] {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn text_matches_json_dumps() {
        let text = r#"{"a": [1, 2.0, null, true], "b": {"c": "é\u0001\"/"}, "d": 1e-05, "e": -3}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            dumps(&value),
            r#"{"a": [1, 2.0, null, true], "b": {"c": "\u00e9\u0001\"/"}, "d": 1e-05, "e": -3}"#
        );
        let emoji: Value = serde_json::from_str(r#""😀""#).unwrap();
        assert_eq!(dumps(&emoji), r#""\ud83d\ude00""#);
    }
}
