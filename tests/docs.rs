//! The README's fault table lists exactly the fault modes mock-hub has.

use signalr_mock::Fault;

#[test]
fn readme_lists_every_fault_mode() {
    let readme = include_str!("../README.md");
    let table = readme
        .split("<!-- faults:start -->")
        .nth(1)
        .and_then(|t| t.split("<!-- faults:end -->").next())
        .expect("README has the fault table markers");
    let listed: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let actual: Vec<&str> = Fault::ALL.iter().map(Fault::name).collect();
    assert_eq!(
        listed, actual,
        "README fault table vs Fault::ALL (same order)"
    );
}
