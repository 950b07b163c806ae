//! Search text: how names, descriptions, tags and queries become index tokens. Lower case,
//! Latin accents folded (`Café` → `cafe`, `Straße` → `strasse`), split on anything that is not
//! a letter or digit; tokens of one character and long runs are dropped. The same function
//! serves the index and the query, so they always agree.

/// Longest token kept (bytes): longer runs are hashes or URLs, not words anyone types.
pub const MAX_TOKEN: usize = 40;

/// Folds one lower-case character to ASCII where it is an accented Latin letter.
fn fold(c: char, out: &mut String) {
    let s = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        other => {
            out.push(other);
            return;
        }
    };
    out.push_str(s);
}

/// The tokens of `text`, in order, duplicates kept.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut flush = |cur: &mut String| {
        if cur.chars().count() >= 2 && cur.len() <= MAX_TOKEN {
            out.push(std::mem::take(cur));
        } else {
            cur.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                fold(l, &mut cur);
            }
        } else {
            flush(&mut cur);
        }
    }
    flush(&mut cur);
    out
}

/// A string normalised as one token would be (for tags and exact comparisons).
pub fn normalise(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars().flat_map(char::to_lowercase) {
        fold(c, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_folds_accents_and_splits() {
        assert_eq!(
            tokens("Café CRÈME: l'Été à Straße-42 x"),
            ["cafe", "creme", "ete", "strasse", "42"]
        );
        assert_eq!(tokens(&"a".repeat(41)), Vec::<String>::new());
        assert_eq!(tokens("日本語 video"), ["日本語", "video"]);
        assert_eq!(normalise(" Ça Va "), "ca va");
    }
}
