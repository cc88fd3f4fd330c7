//! Fuzz target: `pylock.toml` reading and writing (issue #12 §9). Runs in the default test
//! run; `SAFEVENV_FUZZ_CASES=N` for a longer hand run (see the README).
//!
//! Invariants: no input panics; a lockfile that reads is written deterministically, and what
//! is written reads back to the same lock and the same text.

use proptest::prelude::*;
use safevenv_lock::Lock;
use safevenv_test_index::fuzz::{config, mutated_text, seeds, vectors};

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pylock_reads_without_panic_and_round_trips(
        text in mutated_text(seeds(&vectors("pylock"), &[".toml"]))
    ) {
        let Ok(lock) = Lock::from_toml_str(&text, "fuzz") else {
            return Ok(());
        };
        let written = lock.to_toml_string();
        let again = Lock::from_toml_str(&written, "written")
            .map_err(|err| TestCaseError::fail(format!("written lockfile does not read: {err}\n{written}")))?;
        prop_assert_eq!(again.to_toml_string(), written);
        let _ = lock.credential_fields();
    }
}
