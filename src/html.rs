//! Escaping text for HTML, for every module that writes a page or a snippet of one.

/// Escapes text for HTML (element content and double-quoted attribute values).
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
