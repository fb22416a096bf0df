//! Every command in the README's `sh` blocks works as written: `cargo run` names a binary of
//! the package it selects (checked with `cargo metadata`, which needs no build lock), and the
//! command line parses (run with `--help` appended; short commands run as they are).

use std::path::{Path, PathBuf};
use std::process::Command;

fn commands() -> Vec<String> {
    let readme = include_str!("../README.md");
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        // Comments after the command (no command here has a # inside quotes).
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim();
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start.trim());
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let cmd = std::mem::take(&mut pending);
        if !cmd.is_empty() && !cmd.starts_with('{') {
            out.push(cmd);
        }
    }
    out
}

/// Splits a command line on spaces, keeping '…' and "…" together (no escapes needed here).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in cmd.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (package name, its binaries, manifest dir) of the workspace.
fn packages() -> Vec<(String, Vec<String>, PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let bins = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"))
                })
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect();
            let dir = Path::new(p["manifest_path"].as_str().expect("manifest"))
                .parent()
                .expect("dir")
                .to_path_buf();
            (p["name"].as_str().expect("name").to_owned(), bins, dir)
        })
        .collect()
}

/// Runs a built binary with `args`; it must succeed.
fn run(bin: &Path, args: &[String], cmd: &str) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "README command `{cmd}` fails: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The first word of each line `bin args` prints (fault or variation names).
fn listed(bin: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(bin).args(args).output().expect("listing runs");
    assert!(out.status.success(), "{} {args:?} fails", bin.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn readme_commands_work_as_written() {
    let packages = packages();
    let conform = PathBuf::from(env!("CARGO_BIN_EXE_conform"));
    // mock-hub is built next to conform by `cargo test --workspace`.
    let mock_hub = conform.with_file_name(format!("mock-hub{}", std::env::consts::EXE_SUFFIX));
    let mut checked = 0;
    for cmd in commands() {
        // Leading environment assignments (`BENCH_CALLGRIND=/tmp/cg cargo bench …`) set
        // variables for the command; the command is what follows them.
        let w: Vec<String> = words(&cmd)
            .into_iter()
            .skip_while(|x| {
                x.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                })
            })
            .collect();
        match w.first().map(String::as_str) {
            Some("cargo") if w.get(1).map(String::as_str) == Some("run") => {
                let (selection, args) = match w.iter().position(|x| x == "--") {
                    Some(i) => (&w[2..i], w[i + 1..].to_vec()),
                    None => (&w[2..], Vec::new()),
                };
                let flag = |name: &str| {
                    selection
                        .iter()
                        .position(|x| x == name)
                        .and_then(|i| selection.get(i + 1))
                        .cloned()
                };
                // Without -p, cargo runs from the default member: the root package.
                let package = flag("-p").unwrap_or_else(|| "signalr-conform".into());
                let bin = flag("--bin").expect("a README `cargo run` names its --bin");
                let (_, bins, _) = packages
                    .iter()
                    .find(|(n, _, _)| *n == package)
                    .unwrap_or_else(|| panic!("`{cmd}`: no package {package}"));
                assert!(
                    bins.contains(&bin),
                    "`{cmd}`: package {package} has no binary {bin} (it has {bins:?})"
                );
                let exe = if bin == "conform" {
                    conform.clone()
                } else {
                    mock_hub.clone()
                };
                if exe.exists() {
                    let mut args = args;
                    // Listings print and exit: run them as written. A command that would start
                    // a server or a run is checked with --help, and the fault and variation
                    // names it passes (validated only after parsing) must be ones mock-hub lists.
                    if !args.iter().any(|a| a == "list" || a == "--list-variations") {
                        if exe == mock_hub {
                            for (flag, listing) in [
                                ("--fault", &["--fault", "list"][..]),
                                ("--variation", &["--list-variations"][..]),
                            ] {
                                let names = listed(&exe, listing);
                                for v in args.windows(2).filter(|w| w[0] == flag) {
                                    assert!(
                                        names.contains(&v[1]),
                                        "`{cmd}`: mock-hub has no {flag} {} ({names:?})",
                                        v[1]
                                    );
                                }
                            }
                        }
                        args.push("--help".into());
                    }
                    run(&exe, &args, &cmd);
                } else {
                    eprintln!("not run (build mock-hub first, e.g. cargo test --workspace): {cmd}");
                }
                checked += 1;
            }
            Some("cargo") if w.get(1).map(String::as_str) == Some("install") => {
                let path = w
                    .iter()
                    .skip_while(|x| *x != "--path")
                    .nth(1)
                    .expect("--path");
                let dir = root()
                    .join(path)
                    .canonicalize()
                    .expect("install path exists");
                assert!(
                    packages
                        .iter()
                        .any(|(_, bins, d)| *d == dir && !bins.is_empty()),
                    "`{cmd}`: no package with a binary at {path}"
                );
                checked += 1;
            }
            Some("conform") => {
                let mut args = w[1..].to_vec();
                // Commands reading files or stdin that the reader provides: check they parse.
                if args
                    .iter()
                    .any(|a| a.starts_with('@') || a == "-" || a == "<")
                    || args.iter().any(|a| a.starts_with("--target"))
                {
                    args.retain(|a| a != "<" && a != "capture.bin");
                    args.push("--help".into());
                }
                run(&conform, &args, &cmd);
                checked += 1;
            }
            Some("echo") if cmd.contains("| conform") => {
                let shown = cmd.replace("| conform", &format!("| {}", conform.display()));
                let out = Command::new("sh")
                    .args(["-c", &shown])
                    .current_dir(root())
                    .output()
                    .expect("sh runs");
                assert!(
                    out.status.success(),
                    "`{cmd}`: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
            Some(script) if script.starts_with("./scripts/") || script.starts_with("scripts/") => {
                assert!(root().join(script).is_file(), "`{cmd}`: no {script}");
                checked += 1;
            }
            Some("cargo") => {
                // cargo test / bench: the named package exists.
                if let Some(p) = w.iter().skip_while(|x| *x != "-p").nth(1) {
                    assert!(
                        packages.iter().any(|(n, _, _)| n == p),
                        "`{cmd}`: no package {p}"
                    );
                }
                checked += 1;
            }
            _ => panic!("README command `{cmd}` is not checked by this test: teach it"),
        }
    }
    assert!(checked >= 15, "only {checked} README commands found");
}
