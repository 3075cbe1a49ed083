//! The lexer's rules one by one (the directive scanner's are in `lib.rs`).
//! The rewriter's goldens and the generators' outputs exercise them all,
//! but only together; here each rule fails on its own.

use super::*;

/// (kind, text) of every token but newlines.
fn toks(src: &str, lang: Lang) -> Vec<(Tok, &str)> {
    lex_lang(src.as_bytes(), lang)
        .into_iter()
        .filter(|t| t.kind != Tok::Newline)
        .map(|t| (t.kind, &src[t.start()..t.end()]))
        .collect()
}

fn texts(src: &str) -> Vec<&str> {
    toks(src, Lang::C).into_iter().map(|(_, w)| w).collect()
}

#[test]
fn literals_hold_what_looks_like_code() {
    let src = r#"a = "x /* y */ \" z"; b = '\''; c = "// no";"#;
    let found = toks(src, Lang::C);
    assert!(found.contains(&(Tok::Str, r#""x /* y */ \" z""#)));
    assert!(found.contains(&(Tok::Char, r"'\''")));
    assert!(found.contains(&(Tok::Str, r#""// no""#)));
    assert!(!found.iter().any(|(k, _)| *k == Tok::Comment));
}

#[test]
fn unterminated_literals_end_at_their_line() {
    // As in a skipped `#if 0` group: an apostrophe in prose.
    let src = "don't\nint x;\n";
    assert_eq!(texts(src), ["don", "'t", "int", "x", ";"]);
    assert_eq!(toks(src, Lang::C)[1].0, Tok::Char);
}

#[test]
fn comments_and_escaped_newlines() {
    let src = "a /* b\n c */ d // e \\\n f\ng \\\n h /* open";
    assert_eq!(
        texts(src),
        ["a", "/* b\n c */", "d", "// e \\\n f", "g", "h", "/* open"]
    );
    // A line comment ends before a CRLF; the newline is a token.
    let crlf = lex_lang(b"x // c\r\ny", Lang::C);
    let kinds: Vec<Tok> = crlf.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [Tok::Ident, Tok::Comment, Tok::Newline, Tok::Ident],
        "{crlf:?}"
    );
    assert_eq!(crlf[1].end(), 6);
}

#[test]
fn escaped_newlines_are_no_tokens() {
    // Only an unescaped newline ends a directive's line.
    let src = "#define A 1 \\\r\n + 2\nB\n";
    let all = lex_lang(src.as_bytes(), Lang::C);
    let newlines: Vec<usize> = all
        .iter()
        .filter(|t| t.kind == Tok::Newline)
        .map(|t| t.start())
        .collect();
    assert_eq!(newlines, [src.find("\nB").unwrap(), src.len() - 1]);
}

#[test]
fn numbers_are_preprocessing_numbers() {
    let src = "1e+5 0x1p-3 .5f 1.0e-2L 0xFFu 1'000 12ab x-1";
    assert_eq!(
        toks(src, Lang::C),
        [
            (Tok::Number, "1e+5"),
            (Tok::Number, "0x1p-3"),
            (Tok::Number, ".5f"),
            (Tok::Number, "1.0e-2L"),
            (Tok::Number, "0xFFu"),
            (Tok::Number, "1'000"),
            (Tok::Number, "12ab"),
            (Tok::Ident, "x"),
            (Tok::Punct(b'-'), "-"),
            (Tok::Number, "1"),
        ]
    );
}

#[test]
fn prefixed_literals_are_one_token() {
    let src = r#"L"w" u8"s" U'c' u'd' Lx"#;
    assert_eq!(
        toks(src, Lang::C),
        [
            (Tok::Str, r#"L"w""#),
            (Tok::Str, r#"u8"s""#),
            (Tok::Str, "U'c'"),
            (Tok::Str, "u'd'"),
            (Tok::Ident, "Lx"),
        ]
    );
}

#[test]
fn raw_strings_are_cpp_only() {
    let src = "R\"(a\"b)\" x";
    assert_eq!(
        toks(src, Lang::Cpp),
        [(Tok::Str, "R\"(a\"b)\""), (Tok::Ident, "x")]
    );
    // In C, `R` is a name and the quote opens an ordinary string.
    assert_eq!(toks(src, Lang::C)[0], (Tok::Ident, "R"));
    // An unclosed raw string runs to the end of the file.
    let open = "u8R\"x(never\nclosed";
    assert_eq!(toks(open, Lang::Cpp), [(Tok::Str, open)]);
}

#[test]
fn punctuation_is_one_character_a_token() {
    assert_eq!(
        texts("a->b##c..."),
        ["a", "-", ">", "b", "#", "#", "c", ".", ".", "."]
    );
}

#[test]
fn non_ascii_bytes_belong_to_names() {
    // UTF-8 identifiers (C99 allows extended characters in names).
    assert_eq!(texts("int café = 1;"), ["int", "café", "=", "1", ";"]);
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let src = "\u{feff}x";
    assert_eq!(bom_len(src.as_bytes()), 3);
    assert_eq!(texts(src), ["x"]);
    assert_eq!(bom_len(b"x"), 0);
}

#[test]
fn lines_columns_and_line_endings() {
    let src = b"ab\ncd\r\nef";
    let lines = Lines::new(src);
    assert_eq!(lines.pos(0), (1, 1));
    assert_eq!(lines.pos(4), (2, 2));
    assert_eq!(lines.pos(7), (3, 1));
    assert_eq!(line_start_of(src, 5), 3);
    assert_eq!(line_ending(src), "\n");
    assert_eq!(line_ending(b"a\r\nb\n"), "\r\n");
    assert_eq!(line_ending(b"no newline"), "\n");
}
