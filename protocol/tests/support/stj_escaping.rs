//! System.Text.Json's default string escaping applied to JSON text, shared by the property tests
//! and the codec benchmark (`#[path]`-included by both).

/// `json` rewritten the way System.Text.Json's default encoder escapes strings (non-ASCII,
/// `<>&'+` and `"` as `\uXXXX`, astral characters as surrogate pairs).
pub fn stj_default_escaping(json: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(json);
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = text.chars();
    let push_u = |out: &mut String, u: u16| out.push_str(&format!("\\u{u:04X}"));
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_string = !in_string;
                out.push('"');
            }
            '\\' if in_string => match chars.next() {
                Some('"') => push_u(&mut out, 0x22),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '<' | '>' | '&' | '\'' | '+' if in_string => push_u(&mut out, c as u16),
            c if in_string && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    push_u(&mut out, *u);
                }
            }
            c => out.push(c),
        }
    }
    out.into_bytes()
}
