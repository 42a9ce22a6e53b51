#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = rampart_fuzz::target("store_record").expect("a target of that name");
    (target.run)(data);
});
