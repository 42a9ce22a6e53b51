#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = rampart_fuzz::target("client_frame").expect("a target of that name");
    (target.run)(data);
});
