//! Property-tests a hand-written codec against signalr-protocol:
//! `cargo run -p signalr-protocol --example own_codec --features strategies`.
//! The code is `against_ours.rs`, shown in the crate README.

#[cfg(feature = "strategies")]
mod against_ours;

fn main() {
    #[cfg(feature = "strategies")]
    {
        against_ours::run();
        println!("my_codec agrees with signalr-protocol");
    }
    #[cfg(not(feature = "strategies"))]
    eprintln!("this example needs `--features strategies`");
}
