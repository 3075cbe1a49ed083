//! Print tree-sitter-c's syntax tree of a C file (a development aid).
fn main() {
    let path = std::env::args().nth(1).expect("usage: sexp FILE");
    let text = std::fs::read_to_string(path).expect("readable file");
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_c::LANGUAGE.into())
        .expect("tree-sitter-c loads");
    let tree = parser.parse(&text, None).expect("parse");
    let mut out = String::new();
    dump(tree.root_node(), &text, 0, &mut out);
    print!("{out}");
}

fn dump(node: tree_sitter::Node, text: &str, depth: usize, out: &mut String) {
    use std::fmt::Write;
    let field = node
        .parent()
        .and_then(|p| {
            let mut c = p.walk();
            let mut found = None;
            for (i, ch) in p.children(&mut c).enumerate() {
                if ch.id() == node.id() {
                    found = p.field_name_for_child(i as u32);
                }
            }
            found
        })
        .map(|f| format!("{f}: "))
        .unwrap_or_default();
    let snippet: String = if node.child_count() == 0 || node.is_error() {
        format!(
            " {:?}",
            &text[node.byte_range()].chars().take(40).collect::<String>()
        )
    } else {
        String::new()
    };
    let miss = if node.is_missing() { " MISSING" } else { "" };
    let _ = writeln!(
        out,
        "{:indent$}{field}{}{miss} [{}]{snippet}",
        "",
        node.kind(),
        node.start_position().row + 1,
        indent = depth * 2
    );
    let mut c = node.walk();
    for ch in node.children(&mut c) {
        dump(ch, text, depth + 1, out);
    }
}
