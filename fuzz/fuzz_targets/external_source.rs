//! Another provider's subscription body (`xray::link::read_body`, the external-sources job):
//! never more links than asked, a few reasons at most, and every link kept is one this Core
//! writes — it parses, and renders back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xray::link::{parse, read_body, share_link, SKIPPED_SHOWN};

/// Small, so inputs of a few lines reach the cap.
const MAX_LINKS: usize = 4;

fuzz_target!(|data: &[u8]| {
    let read = read_body(data, MAX_LINKS);
    assert!(read.links.len() <= MAX_LINKS);
    assert!(read.skipped.len() <= SKIPPED_SHOWN);
    for link in &read.links {
        match parse(link) {
            Ok(c) => assert_eq!(&share_link(&c), link, "a kept link is not stable"),
            Err(e) => panic!("kept {link:?}, which does not parse: {}", e.0),
        }
    }
    let again = read_body(data, MAX_LINKS);
    assert_eq!(again.links, read.links, "reading is not deterministic");
});
