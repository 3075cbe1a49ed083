//! Where a running pyctx finds its data (`api/src/data.rs`): `PYCTX_HOME`
//! in either layout, and an error naming it when it holds neither; the
//! build checkout otherwise (a test binary has no `../share/pyctx`); the
//! cache per layout and `PYCTX_CACHE_DIR`. One test: it sets environment
//! variables, which the other tests of this binary would see.
//! (`tests/test_packaging.py` covers `<exe>/../share/pyctx` with a real
//! wheel.)

use pyctx_api::data::{build_checkout, DataDir, Layout};

#[test]
fn located_by_env_then_checkout() {
    let tmp = std::env::temp_dir().join(format!("pyctx-data-{}", std::process::id()));
    let installed = tmp.join("share").join("pyctx");
    std::fs::create_dir_all(installed.join("include")).unwrap();
    std::fs::write(installed.join("table.json"), "{}").unwrap();
    let neither = tmp.join("empty");
    std::fs::create_dir_all(&neither).unwrap();
    std::env::remove_var("PYCTX_CACHE_DIR");

    std::env::remove_var("PYCTX_HOME");
    let found = DataDir::locate().unwrap();
    assert_eq!(
        (found.root.clone(), found.layout),
        (build_checkout(), Layout::Checkout)
    );
    assert_eq!(found.table(), pyctx_api::Table::default_path());
    assert_eq!(found.include(), build_checkout().join("runtime/include"));
    assert_eq!(
        found.cache().unwrap(),
        build_checkout().join("target/pyctx")
    );

    std::env::set_var("PYCTX_HOME", &installed);
    let found = DataDir::locate().unwrap();
    assert_eq!(found.layout, Layout::Installed);
    assert_eq!(found.table(), installed.join("table.json"));
    assert_eq!(found.include(), installed.join("include"));
    assert_eq!(found.static_library(), installed.join("lib/libpyctx.a"));
    std::env::set_var("HOME", &tmp);
    std::env::set_var("XDG_CACHE_HOME", tmp.join("xdg"));
    assert_eq!(found.cache().unwrap(), tmp.join("xdg").join("pyctx"));
    std::env::set_var("PYCTX_CACHE_DIR", tmp.join("mine"));
    assert_eq!(found.cache().unwrap(), tmp.join("mine"));
    std::env::remove_var("PYCTX_CACHE_DIR");

    std::env::set_var("PYCTX_HOME", &neither);
    let err = DataDir::locate().unwrap_err().to_string();
    assert!(
        err.contains(&format!("PYCTX_HOME={}", neither.display())) && err.contains("table.json"),
        "{err}"
    );
    std::env::set_var("PYCTX_HOME", build_checkout());
    assert_eq!(DataDir::locate().unwrap().layout, Layout::Checkout);
    std::env::remove_var("PYCTX_HOME");
    let _ = std::fs::remove_dir_all(&tmp);
}
