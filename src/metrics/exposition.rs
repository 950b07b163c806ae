//! The Prometheus text exposition format (version 0.0.4), written by every subsystem's
//! `render_metrics` through one writer: `# HELP` and `# TYPE` once per family, label values
//! escaped. The counters themselves stay plain atomics read at scrape time; this only formats.

use std::fmt::{self, Display, Write};

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets at restart).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Writes metric families into a `String` (the `/metrics` body).
pub struct Exposition<'a> {
    out: &'a mut String,
    /// Families whose header is written, so a family named twice gets it once.
    started: Vec<&'static str>,
}

/// Label pairs of one sample: `&[("route", &"media"), ("status", &206)]`.
pub type Labels<'l> = &'l [(&'static str, &'l dyn Display)];

impl<'a> Exposition<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut String) -> Exposition<'a> {
        Exposition {
            out,
            started: Vec::new(),
        }
    }

    /// Starts (or continues) the counter family `name`.
    pub fn counter(&mut self, name: &'static str, help: &str) -> Family<'_, 'a> {
        self.family(name, help, Kind::Counter)
    }

    /// Starts (or continues) the gauge family `name`.
    pub fn gauge(&mut self, name: &'static str, help: &str) -> Family<'_, 'a> {
        self.family(name, help, Kind::Gauge)
    }

    /// Starts (or continues) the family `name` of type `kind`.
    pub fn family(&mut self, name: &'static str, help: &str, kind: Kind) -> Family<'_, 'a> {
        if !self.started.contains(&name) {
            self.started.push(name);
            self.out.push_str("# HELP ");
            self.out.push_str(name);
            self.out.push(' ');
            escape_help(help, self.out);
            self.out.push_str("\n# TYPE ");
            self.out.push_str(name);
            self.out.push(' ');
            self.out.push_str(kind.name());
            self.out.push('\n');
        }
        Family { w: self, name }
    }
}

/// One family being written: its samples.
pub struct Family<'w, 'a> {
    w: &'w mut Exposition<'a>,
    name: &'static str,
}

impl Family<'_, '_> {
    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, labels: Labels<'_>, value: impl Display) -> &mut Self {
        let out = &mut *self.w.out;
        out.push_str(self.name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (key, v)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(key);
                out.push_str("=\"");
                let _ = write!(LabelEscaper(out), "{v}");
                out.push('"');
            }
            out.push('}');
        }
        let _ = writeln!(out, " {value}");
        self
    }
}

/// Escapes a label value as it is written: `\` → `\\`, `"` → `\"`, newline → `\n`.
struct LabelEscaper<'o>(&'o mut String);

impl Write for LabelEscaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '\\' => self.0.push_str("\\\\"),
                '"' => self.0.push_str("\\\""),
                '\n' => self.0.push_str("\\n"),
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// HELP text escapes `\` and newlines only.
fn escape_help(help: &str, out: &mut String) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_once_per_family_and_labels_escaped() {
        let mut out = String::new();
        let mut w = Exposition::new(&mut out);
        w.counter("x_total", "Things.")
            .sample(&[("a", &"plain"), ("b", &7)], 3u64)
            .sample(&[("a", &"q\"uo\\te\nd")], 1u64);
        w.gauge("y", "Level.").sample(&[], 2.5);
        w.counter("x_total", "Things.")
            .sample(&[("a", &"again")], 4u64);
        assert_eq!(
            out,
            "# HELP x_total Things.\n# TYPE x_total counter\n\
             x_total{a=\"plain\",b=\"7\"} 3\n\
             x_total{a=\"q\\\"uo\\\\te\\nd\"} 1\n\
             # HELP y Level.\n# TYPE y gauge\ny 2.5\n\
             x_total{a=\"again\"} 4\n"
        );
    }
}
