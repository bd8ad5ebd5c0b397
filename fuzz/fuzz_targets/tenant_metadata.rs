//! A tenant's OpenID metadata document: never a panic, and a directory id
//! only when the document names one (a GUID).
#![no_main]

use ece_o365_exporter::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = fuzzing::tenant_metadata(data, "contoso.onmicrosoft.com") {
        assert_eq!(id.len(), 36);
        assert_eq!(fuzzing::tenant_metadata(data, &id), Ok(id));
    }
});
