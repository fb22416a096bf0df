#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signalr_protocol_fuzz::case_file(data));
