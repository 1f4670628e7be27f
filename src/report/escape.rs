//! The one escaper for markup: HTML (the HTML report, HTML in Markdown)
//! and XML (JUnit).

/// Where the text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// HTML element content or a `"`-quoted attribute value.
    Html,
    /// XML element content: line breaks and tabs kept.
    XmlText,
    /// A `"`-quoted XML attribute value: line breaks and tabs as
    /// character references, since parsers turn them into spaces.
    XmlAttribute,
}

/// `s` escaped for `markup`. `&`, `<` and `>` always become references;
/// quotes where they could end an attribute; in XML, the characters XML
/// 1.0 forbids (even as references) become U+FFFD and a carriage return a
/// reference, which parsers would otherwise drop.
pub fn escape(s: &str, markup: Markup) -> String {
    let xml = markup != Markup::Html;
    let attribute = markup == Markup::XmlAttribute;
    let mut escaped = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' if markup != Markup::XmlText => escaped.push_str("&quot;"),
            '\'' if markup == Markup::Html => escaped.push_str("&#39;"),
            '\n' if attribute => escaped.push_str("&#10;"),
            '\t' if attribute => escaped.push_str("&#9;"),
            '\r' if xml => escaped.push_str("&#13;"),
            '\n' | '\t' => escaped.push(c),
            c if xml && ((c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}') => {
                escaped.push('\u{FFFD}');
            }
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_markup_escapes_what_could_break_it() {
        let s = "a<b>&\"c\"'d'\n\t\r\u{1}";
        assert_eq!(
            escape(s, Markup::Html),
            "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;\n\t\r\u{1}"
        );
        assert_eq!(
            escape(s, Markup::XmlText),
            "a&lt;b&gt;&amp;\"c\"'d'\n\t&#13;\u{FFFD}"
        );
        assert_eq!(
            escape(s, Markup::XmlAttribute),
            "a&lt;b&gt;&amp;&quot;c&quot;'d'&#10;&#9;&#13;\u{FFFD}"
        );
    }
}
