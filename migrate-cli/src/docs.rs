//! `docs/cli.md` against the enums: the exit-status and diagnostic-code
//! tables there are generated from [`Exit`] and [`Code`] and checked by
//! `cargo test`. `PYCTX_BLESS=1 cargo test -p pyctx-migrate` rewrites them.

use crate::exit::Exit;
use pyctx_rewrite::Code;

pub fn exit_table() -> String {
    let mut s = String::from("| status | meaning |\n|---|---|\n");
    for e in Exit::ALL {
        s.push_str(&format!("| {} | {} |\n", e.code(), e.meaning()));
    }
    s
}

pub fn code_table() -> String {
    let mut s = String::from("| code | meaning |\n|---|---|\n");
    for c in Code::ALL {
        s.push_str(&format!("| `{}` | {} |\n", c.as_str(), c.summary()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cli.md");

    /// The text between `<!-- begin NAME -->` and `<!-- end NAME -->`.
    fn section(doc: &str, name: &str) -> (usize, usize) {
        let begin = format!("<!-- begin {name}: generated, see migrate-cli/src/docs.rs -->\n");
        let end = format!("<!-- end {name} -->");
        let b = doc
            .find(&begin)
            .unwrap_or_else(|| panic!("docs/cli.md has no {begin:?}"))
            + begin.len();
        let e = doc[b..]
            .find(&end)
            .unwrap_or_else(|| panic!("docs/cli.md has no {end:?}"))
            + b;
        (b, e)
    }

    #[test]
    fn cli_md_tables_match_the_enums() {
        let mut doc = std::fs::read_to_string(DOC).unwrap();
        let mut stale = Vec::new();
        for (name, table) in [("exit-statuses", exit_table()), ("codes", code_table())] {
            let (b, e) = section(&doc, name);
            if doc[b..e] != table {
                stale.push(name);
                doc.replace_range(b..e, &table);
            }
        }
        if std::env::var_os("PYCTX_BLESS").is_some() {
            std::fs::write(DOC, &doc).unwrap();
            return;
        }
        assert!(
            stale.is_empty(),
            "docs/cli.md is stale ({stale:?}): run PYCTX_BLESS=1 cargo test -p pyctx-migrate"
        );
    }
}
