//! Prints what `fleuve_hw::discover` finds: the text report, then the JSON inventory.
//!
//! `cargo run -p fleuve-hw --example probe`

use std::io::Write;

fn main() {
    let inventory = fleuve_hw::discover();
    let json = match serde_json::to_string_pretty(&inventory) {
        Ok(json) => json,
        Err(e) => format!("cannot serialize the inventory: {e}"),
    };
    // Write errors (a closed pipe, as with `| head`) end the output quietly.
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", inventory.render_text()).and_then(|()| writeln!(out, "{json}"));
}
