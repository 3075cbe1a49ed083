//! Helpers shared by the tests that read the installed interpreters.

use pyctx_api::generate::Interpreter;
use pyctx_api::pythons;

/// One interpreter per supported version (fails when one is missing).
pub fn interpreters() -> Vec<Interpreter> {
    let found: Vec<Interpreter> = pythons::discover_interpreters()
        .unwrap_or_else(|e| panic!("{e:#}"))
        .iter()
        .map(|p| Interpreter::query(p).unwrap_or_else(|e| panic!("{e:#}")))
        .collect();
    let minors: Vec<String> = found.iter().map(|i| i.minor.clone()).collect();
    let missing = pythons::missing_versions(&minors);
    assert!(
        missing.is_empty(),
        "CPython {} not installed under the pyenv root; install them with pyenv",
        missing.join(", ")
    );
    found
}
