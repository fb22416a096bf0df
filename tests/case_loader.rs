//! The case loader takes case files as input: whatever the text, `parse_file` returns the cases or
//! an error naming the file — it never panics. Property tests over arbitrary text, over real case
//! files cut and spliced at arbitrary places, and over steps whose fields hold arbitrary strings.

use proptest::prelude::*;
use signalr_conform::cases::parse_file;

fn case_files() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/spec-cases");
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .expect("spec-cases exists")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| std::fs::read_to_string(e.path()).expect("readable"))
        .collect();
    texts.sort();
    texts
}

fn step_case(step: &str) -> String {
    format!(
        "[[case]]\nid = \"x/y\"\ntitle = \"t\"\nrequirement = \"r\"\nlevel = \"MUST\"\nreference = \"r\"\n\n[[case.step]]\n{step}\n"
    )
}

/// A TOML basic string holding `s` (so that arbitrary text reaches the field's own parser).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = parse_file("fuzz.toml", &text);
    }

    #[test]
    fn mutated_case_files_never_panic(
        file in 0usize..64, at in any::<prop::sample::Index>(), cut in 0usize..200, insert in ".{0,40}"
    ) {
        let files = case_files();
        let text = &files[file % files.len()];
        let mut at = at.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mutated = format!("{}{}{}", &text[..at], insert, &text[end..]);
        if let Err(e) = parse_file("mutated.toml", &mutated) {
            prop_assert!(e.to_string().starts_with("mutated.toml"), "{e}");
        }
    }

    #[test]
    fn arbitrary_field_values_give_errors_naming_the_case(
        value in ".{0,60}", field in 0usize..12
    ) {
        let v = toml_string(&value);
        let step = match field {
            0 => format!("send_raw = {{ hex = {v} }}"),
            1 => format!("send = {v}"),
            2 => format!("expect = {v}"),
            3 => format!("expect_close = {v}"),
            4 => format!("expect_silence = {v}"),
            5 => format!("wait = {v}"),
            6 => format!("expect = '{{\"type\":1}}'\nwithin = {v}"),
            7 => format!("expect_handshake = {{ error_matches = {v} }}"),
            8 => format!("send_raw = {{ text = \"a\", frame = {v} }}"),
            9 => format!("expect_http = {{ status = 200, body_json = {v} }}"),
            10 => format!("expect_unordered = [{v}]"),
            _ => format!("http = {{ method = {v}, path = {v} }}"),
        };
        if let Err(e) = parse_file("field.toml", &step_case(&step)) {
            let e = e.to_string();
            prop_assert!(e.starts_with("field.toml (case 'x/y')"), "{e}");
        }
    }
}

#[test]
fn a_non_hex_character_is_a_clear_error() {
    let e = parse_file("bad.toml", &step_case("send_raw = { hex = \"aé1\" }"))
        .expect_err("a load error")
        .to_string();
    assert_eq!(
        e,
        "bad.toml (case 'x/y'): step 1: send_raw hex: 'é' at offset 1 is not a hex digit"
    );
}
