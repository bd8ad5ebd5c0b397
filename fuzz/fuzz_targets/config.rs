//! Config loading: any text is a config or an error naming the file.
#![no_main]

use ece_o365_exporter::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(yaml) = std::str::from_utf8(data) else { return };
    if let Err(e) = Config::from_yaml(std::path::Path::new("/nonexistent/fuzz.yaml"), yaml) {
        assert!(e.to_string().contains("fuzz.yaml"));
    }
});
