//! What C++ adds to the parse: the constructs the engine does not model,
//! found on tree-sitter-cpp's tree, so that they are never half
//! rewritten (`docs/migration-policy.md`, "C++").
//!
//! The engine threads a context through *free functions* with C-like
//! bodies, at file scope, in `extern "C"` blocks and in namespaces: their
//! calls are spelled as in C, and a C++ call `PyObject_IsTrue(ctx, v)`
//! finds the ctx form by argument-dependent lookup (`pyctx.h`). A member
//! function, a template, a function holding a lambda or a local class, an
//! overloaded name: refused (left byte for byte, with the reason). A
//! function with default arguments keeps its signature (entry point).

use crate::scan::{FileScan, Frame};
use std::collections::{BTreeSet, HashMap};
use tree_sitter::Node;

fn text<'a>(src: &'a [u8], n: Node) -> &'a str {
    std::str::from_utf8(&src[n.byte_range()]).unwrap_or("")
}

/// What a C++ function definition is, seen from its ancestors and its
/// declarator.
pub(crate) struct DefFacts {
    /// Why it keeps its signature (an entry point): what the engine does
    /// not thread through (members, templates, operators, ...).
    pub keep: Option<String>,
    /// For a member or qualified definition: the name to report
    /// (`Tally::add`; never a project function's plain name, so free
    /// functions are not tied to members).
    pub name: Option<(String, usize)>,
    /// In an anonymous namespace: internal linkage, as `static`.
    pub internal: bool,
    /// See [`inner_scopes`].
    pub scopes: Vec<std::ops::Range<usize>>,
}

/// The innermost declarator naming the function (through pointer and
/// reference declarators): its `declarator` field.
fn function_name_node(def: Node) -> Option<Node> {
    let mut d = def.child_by_field_name("declarator")?;
    loop {
        d = match d.kind() {
            "function_declarator" => return d.child_by_field_name("declarator"),
            "pointer_declarator" | "attributed_declarator" => {
                d.child_by_field_name("declarator")?
            }
            "reference_declarator" | "parenthesized_declarator" => {
                let mut c = d.walk();
                let inner = d.named_children(&mut c).find(|n| n.kind() != "comment");
                inner?
            }
            _ => return None,
        };
    }
}

/// The name of the class, struct or union a definition sits in.
fn enclosing_class(src: &[u8], anc: &[Frame]) -> Option<String> {
    anc.iter().rev().find_map(|a| {
        matches!(
            a.node.kind(),
            "class_specifier" | "struct_specifier" | "union_specifier"
        )
        .then(|| {
            a.node
                .child_by_field_name("name")
                .map_or_else(|| "(anonymous)".to_string(), |n| text(src, n).to_string())
        })
    })
}

pub(crate) fn def_facts(src: &[u8], def: Node, anc: &[Frame]) -> DefFacts {
    let name = function_name_node(def);
    let class = enclosing_class(src, anc);
    let template = anc.iter().any(|a| a.node.kind() == "template_declaration");
    let internal = anc.iter().any(|a| {
        a.node.kind() == "namespace_definition" && a.node.child_by_field_name("name").is_none()
    });
    let shown = |n: Node| match &class {
        Some(c) => (format!("{c}::{}", text(src, n)), n.start_byte()),
        None => (text(src, n).to_string(), n.start_byte()),
    };
    // Members and the like keep their signature: calls to them go through
    // objects, member lookup, overload resolution and virtual dispatch
    // the engine does not follow, so no call of theirs may change.
    let (keep, name) = match (name.map(|n| (n, n.kind())), &class) {
        (Some((n, _)), Some(c)) => (
            Some(format!(
                "a member function of `{c}` (C++ members keep their signature)"
            )),
            Some(shown(n)),
        ),
        (Some((n, "qualified_identifier")), None) => (
            Some(format!(
                "a qualified name `{}` (a member or namespace member defined out of line keeps its signature)",
                text(src, n)
            )),
            Some(shown(n)),
        ),
        (Some((n, k @ ("destructor_name" | "operator_name" | "template_function"))), None) => (
            Some(format!(
                "a C++ {} `{}` (keeps its signature)",
                k.replace('_', " "),
                text(src, n)
            )),
            Some(shown(n)),
        ),
        _ => (None, None),
    };
    let keep = keep
        .or_else(|| {
            template
                .then(|| "a template (one text, many instantiations: keeps its signature)".into())
        })
        .or_else(|| {
            // A handler may not redeclare a parameter: with no `ctx`
            // parameter, the `try` block and each handler get a prologue.
            def.child_by_field_name("body")
                .and_then(try_body)
                .map(|_| "a function-try-block (its handlers see no variable of the `try` block: keeps its signature)".into())
        });
    DefFacts {
        keep,
        name,
        internal,
        scopes: inner_scopes(def),
    }
}

/// The body of a function-try-block (`f() try { ... } catch ...`): the
/// `try`'s compound statement, where the prologue goes.
pub(crate) fn try_body(body: Node) -> Option<Node> {
    (body.kind() == "try_statement")
        .then(|| body.child_by_field_name("body"))
        .flatten()
}

/// Blocks inside a definition that do not see the function's own
/// context variable, each given a prologue of its own when a call there
/// passes a context: lambda bodies (whatever their captures, a local
/// `PyCtx` is always in scope), member bodies of local classes, and the
/// handlers of a function-try-block. Ranges run from `{` to `}`.
pub(crate) fn inner_scopes(def: Node) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let brace = |b: Node| b.start_byte()..b.end_byte().saturating_sub(1);
    crate::scan::walk(def, |fr, anc| {
        let n = fr.node;
        let body = n
            .child_by_field_name("body")
            .filter(|b| b.kind() == "compound_statement");
        match n.kind() {
            "lambda_expression" => out.extend(body.map(brace)),
            "function_definition" if !anc.is_empty() => out.extend(body.map(brace)),
            // Only a function-try-block's handlers: a `try` statement
            // inside the body sees the function's context.
            "catch_clause" if anc.len() == 2 && anc[1].node.kind() == "try_statement" => {
                out.extend(body.map(brace));
            }
            _ => {}
        }
        !matches!(
            n.kind(),
            "comment" | "string_literal" | "raw_string_literal"
        )
    });
    out
}

/// A parameter list's types, without names, default values or blanks
/// (`PyObject *o, int n = 1` → `PyObject*,int`): two declarations of one
/// function agree on it, two overloads do not.
pub(crate) fn param_types(src: &[u8], list: Node) -> String {
    let mut c = list.walk();
    let mut out: Vec<String> = Vec::new();
    for p in list.named_children(&mut c) {
        if p.kind() == "comment" {
            continue;
        }
        let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
        if let Some(v) = p.child_by_field_name("default_value") {
            cut.push(v.byte_range());
        }
        if let Some(id) = p
            .child_by_field_name("declarator")
            .and_then(crate::scan::declared_name)
        {
            cut.push(id.byte_range());
        }
        let mut s = String::new();
        for (k, &b) in src[p.byte_range()].iter().enumerate() {
            let at = p.start_byte() + k;
            if !cut.iter().any(|r| r.contains(&at)) && !b.is_ascii_whitespace() {
                s.push(b as char);
            }
        }
        out.push(s.trim_end_matches('=').to_string());
    }
    if out.len() == 1 && out[0] == "void" {
        out.clear();
    }
    out.join(",")
}

/// Does the list give a parameter a default value?
pub(crate) fn has_defaults(list: Node) -> bool {
    let mut c = list.walk();
    let found = list
        .named_children(&mut c)
        .any(|p| p.kind() == "optional_parameter_declaration");
    found
}

/// The position of the call expression when the identifier (whose
/// ancestors are `anc`) is the name of a qualified call: the chain of
/// `qualified_identifier`s above it is the `function` of a call.
pub(crate) fn qualified_call_index(anc: &[Frame]) -> Option<usize> {
    let mut k = anc.len();
    while k > 0 && anc[k - 1].node.kind() == "qualified_identifier" {
        k -= 1;
    }
    if k == anc.len() || k == 0 {
        return None;
    }
    // anc[k] is the outermost qualified_identifier; its parent the call.
    (anc[k].field == Some("function") && anc[k - 1].node.kind() == "call_expression")
        .then_some(k - 1)
}

/// Names of member functions, declared or defined in a class body or
/// defined out of line (`C::f`): inside a member, an unqualified call
/// `f(x)` finds the member before any free function of that name.
pub(crate) fn member_names(src: &[u8], root: Node, out: &mut BTreeSet<String>) {
    crate::scan::walk(root, |fr, _| {
        let n = fr.node;
        if n.kind() == "function_declarator" {
            if let Some(d) = n.child_by_field_name("declarator") {
                match d.kind() {
                    "field_identifier" => {
                        out.insert(text(src, d).to_string());
                    }
                    "qualified_identifier" => {
                        let last = text(src, d).rsplit("::").next().unwrap_or("");
                        out.insert(last.trim().to_string());
                    }
                    _ => {}
                }
            }
        }
        !matches!(
            n.kind(),
            "comment" | "string_literal" | "raw_string_literal"
        )
    });
}

/// Free functions C++ lets a call reach in ways the engine does not
/// follow keep their signature (entry points; every call of theirs stays
/// as written): an **overloaded name** — definitions and prototypes (at
/// file or namespace scope, any C++ file) declaring different parameter
/// types, where adding a context to one overload while a call may
/// resolve to another would break the build — and a name that is also a
/// **member function's** (a call inside a member may mean the member).
pub(crate) fn keep_overloads(scans: &mut [FileScan]) {
    let mut sigs: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut members: BTreeSet<String> = BTreeSet::new();
    for s in scans.iter() {
        if s.lang != crate::lex::Lang::Cpp {
            continue;
        }
        members.extend(s.member_names.iter().cloned());
        for f in s
            .funcs
            .iter()
            .filter(|f| f.name != "?" && !f.name.contains("::"))
        {
            if let Some(p) = &f.params {
                sigs.entry(f.name.clone())
                    .or_default()
                    .insert(p.types.clone());
            }
        }
        for p in s.protos.iter().filter(|p| p.in_func.is_none() && !p.opaque) {
            sigs.entry(p.name.clone())
                .or_default()
                .insert(p.params.types.clone());
        }
    }
    for s in scans.iter_mut() {
        for f in s.funcs.iter_mut().filter(|f| f.keep.is_none()) {
            if let Some(set) = sigs.get(&f.name).filter(|set| set.len() > 1) {
                let list: Vec<String> = set.iter().map(|t| format!("({t})")).collect();
                f.keep = Some(format!(
                    "an overloaded name (C++): `{}` is declared with {} parameter lists, {}; a call may resolve to any of them",
                    f.name,
                    set.len(),
                    list.join(", ")
                ));
            } else if !f.name.contains("::") && members.contains(&f.name) {
                f.keep = Some(format!(
                    "a member function is named `{}` too (C++: inside a member, a call by that name may mean the member)",
                    f.name
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::walk;

    fn tree(src: &str) -> tree_sitter::Tree {
        let mut p = tree_sitter::Parser::new();
        p.set_language(&crate::scan::grammar(crate::lex::Lang::Cpp))
            .unwrap();
        p.parse(src, None).unwrap()
    }

    /// (reported name, reason to keep the signature, internal) of every
    /// function definition.
    fn defs(src: &str) -> Vec<(String, Option<String>, bool)> {
        let t = tree(src);
        let mut out = Vec::new();
        walk(t.root_node(), |fr, anc| {
            if fr.node.kind() == "function_definition" {
                let f = def_facts(src.as_bytes(), fr.node, anc);
                let name = f.name.map_or_else(String::new, |(n, _)| n);
                out.push((name, f.keep, f.internal));
                return false;
            }
            true
        });
        out
    }

    #[test]
    fn what_keeps_its_signature_is_named() {
        let src = "namespace { int f(int a) { return a; } }\n\
                   namespace n { int g(int &a) { return a; } }\n\
                   struct S { int m() { return 0; } };\n\
                   int S2::m() { return 0; }\n\
                   template <class T> int t(T a) { return 0; }\n\
                   int l() { auto f = [](){ return 1; }; return f(); }\n\
                   int y() try { return 0; } catch (...) { return 1; }\n";
        let got = defs(src);
        assert_eq!(got[0], (String::new(), None, true));
        assert_eq!(got[1], (String::new(), None, false));
        assert_eq!(got[2].0, "S::m");
        assert!(got[2]
            .1
            .as_deref()
            .unwrap()
            .contains("member function of `S`"));
        assert_eq!(got[3].0, "S2::m");
        assert!(got[3].1.as_deref().unwrap().contains("qualified name"));
        assert!(got[4].1.as_deref().unwrap().contains("template"));
        assert_eq!(got[5].1, None, "a lambda is no reason to keep it");
        assert!(got[6].1.as_deref().unwrap().contains("function-try-block"));
    }

    /// The `{`..`}` text of every inner scope of the first definition.
    fn scopes(src: &str) -> Vec<String> {
        let t = tree(src);
        let mut out = Vec::new();
        walk(t.root_node(), |fr, _| {
            if fr.node.kind() == "function_definition" && out.is_empty() {
                for r in inner_scopes(fr.node) {
                    out.push(src[r.start..=r.end].to_string());
                }
                return false;
            }
            true
        });
        out
    }

    #[test]
    fn lambdas_local_members_and_handlers_are_inner_scopes() {
        let src = "int f() try {\n\
                     auto a = [](){ return 1; };\n\
                     struct L { int m() { return 2; } };\n\
                     try { } catch (int) { }\n\
                     return a();\n\
                   } catch (...) { return 3; }\n";
        assert_eq!(
            scopes(src),
            vec!["{ return 1; }", "{ return 2; }", "{ return 3; }"]
        );
    }

    #[test]
    fn parameter_types_ignore_names_defaults_and_blanks() {
        let src = "int f(PyObject *o, int n = 1);\nint f(PyObject* obj, int);\nint g(void);\n";
        let t = tree(src);
        let mut lists = Vec::new();
        walk(t.root_node(), |fr, _| {
            if fr.node.kind() == "parameter_list" {
                lists.push((param_types(src.as_bytes(), fr.node), has_defaults(fr.node)));
                return false;
            }
            true
        });
        assert_eq!(
            lists,
            vec![
                ("PyObject*,int".to_string(), true),
                ("PyObject*,int".to_string(), false),
                (String::new(), false),
            ]
        );
    }

    #[test]
    fn qualified_calls_are_found_through_nested_qualifiers() {
        let src = "void f() { ::a(1); x::y::b(2); c(3); &::d; }\n";
        let t = tree(src);
        let mut found = Vec::new();
        walk(t.root_node(), |fr, anc| {
            if fr.node.kind() == "identifier" {
                let name = &src[fr.node.byte_range()];
                found.push((name.to_string(), qualified_call_index(anc).is_some()));
            }
            true
        });
        let q: Vec<&str> = found
            .iter()
            .filter(|(_, q)| *q)
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(q, vec!["a", "b"]);
    }
}
