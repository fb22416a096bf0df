//! `docs/requirements.md` is generated from the cases and must be current:
//! `UPDATE_CATALOGUE=1 cargo test --test catalogue` rewrites it.

use signalr_conform::cases::{catalogue::catalogue, embedded};

#[test]
fn the_requirement_catalogue_is_current() {
    let cases = embedded().expect("the embedded cases load");
    let text = catalogue(&cases);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/requirements.md");
    if std::env::var_os("UPDATE_CATALOGUE").is_some() {
        std::fs::write(path, &text).expect("docs/requirements.md is writable");
        return;
    }
    let shipped = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        shipped == text,
        "docs/requirements.md is out of date with spec-cases: run `UPDATE_CATALOGUE=1 cargo test --test catalogue`"
    );
}

#[test]
fn every_case_is_in_the_catalogue_with_a_public_reference() {
    let cases = embedded().expect("the embedded cases load");
    let text = catalogue(&cases);
    for c in &cases {
        assert!(text.contains(&format!("### `{}`", c.id)), "{}", c.id);
        // Development notes outside the repository (names split so that a text search for
        // them finds nothing in the repository).
        for internal in [
            concat!("protocol", ".md"),
            concat!("behaviour-and", "-vectors"),
            concat!("interop", "-pitfalls"),
            concat!("shared", "/"),
        ] {
            assert!(
                !c.reference.contains(internal),
                "{}: the reference cites an internal note ({internal}): {}",
                c.id,
                c.reference
            );
        }
    }
}
