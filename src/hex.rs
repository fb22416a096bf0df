//! Hex text ↔ bytes, for `conform decode`/`encode` and `send_raw = { hex = … }` in cases.

/// Parses hex digits (white space, `0x` prefixes and `,` separators allowed).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|t| t.trim_start_matches("0x").trim_start_matches("0X"))
        .collect();
    if let Some((i, c)) = cleaned.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!("'{c}' at offset {i} is not a hex digit"));
    }
    if cleaned.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", cleaned.len()));
    }
    // Only ASCII hex digits are left, so every byte offset is a character boundary.
    Ok(cleaned
        .as_bytes()
        .chunks(2)
        .map(|pair| (hex_digit(pair[0]) << 4) | hex_digit(pair[1]))
        .collect())
}

fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
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
        assert!(parse_hex("zz").unwrap_err().contains("not a hex digit"));
        assert_eq!(
            parse_hex("aé1").unwrap_err(),
            "'é' at offset 1 is not a hex digit"
        );
        assert!(parse_hex("+1").is_err());
    }
}
