//! Feeds arbitrary bytes to the library loader as a plugin pack next to empty shipped
//! files: it must report problems, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opsconductor_core::library::{Library, SourceFile};

fuzz_target!(|data: &[u8]| {
    let files = [SourceFile {
        name: "plugins/fuzz.json".to_owned(),
        bytes: data.to_vec(),
    }];
    let _ = Library::from_sources(&files);
});
