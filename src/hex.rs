//! Hex text ↔ bytes, for `conform decode`/`encode` and `send_raw = { hex = … }` in cases.

/// Parses hex digits (white space, `0x` prefixes and `,` separators allowed).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|t| t.trim_start_matches("0x").trim_start_matches("0X"))
        .collect();
    if cleaned.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", cleaned.len()));
    }
    (0..cleaned.len())
        .step_by(2)
        .map(|i| {
            let pair = cleaned.get(i..i + 2).unwrap_or_default();
            u8::from_str_radix(pair, 16).map_err(|_| format!("'{pair}' at offset {i} is not hex"))
        })
        .collect()
}

/// Formats bytes as space-separated lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(parse_hex("0x1e, 91 06").unwrap(), vec![0x1e, 0x91, 0x06]);
        assert_eq!(to_hex(&[0x1e, 0x91]), "1e 91");
        assert!(parse_hex("abc").unwrap_err().contains("odd number"));
        assert!(parse_hex("zz").unwrap_err().contains("not hex"));
    }
}
