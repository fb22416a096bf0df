//! `conform`: see `conform --help`.

fn main() -> std::process::ExitCode {
    signalr_conform::app::main()
}
