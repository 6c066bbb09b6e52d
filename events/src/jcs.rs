//! Strict JSON text straight to its canonical bytes, in one walk and without
//! building a `Value`: the fast path of [`crate::Checked::parse`].
//!
//! The canonical form is what the ledger stores (RFC 8785 as the spec pins
//! it): serde_json's compact output of a map with sorted keys, integers as
//! written, strings escaped as `JSON.stringify` escapes them. The walk
//! accepts exactly the texts the strict parse accepts (no floats, no `-0`,
//! integers within ±[`INTEGER_ABS_MAX`], no key twice in one object, at most
//! [`JSON_DEPTH_MAX`] levels, nothing after the value) and returns `None`
//! for every other text without saying why: the caller then runs the strict
//! parse, which names the field and the rule. The unit tests hold the two to
//! the same answer on generated texts, good and bad.

use crate::limits::{INTEGER_ABS_MAX, JSON_DEPTH_MAX};
use std::borrow::Cow;

/// The canonical text of the JSON value `text` holds, or `None` if the
/// strict parse would refuse it.
pub fn canonical(text: &str) -> Option<String> {
    let mut walk = Walk::new(text);
    let mut out = String::with_capacity(text.len());
    walk.value(&mut out, 0)?;
    walk.end()?;
    Some(out)
}

/// A position in a JSON text being walked.
pub(crate) struct Walk<'a> {
    text: &'a str,
    at: usize,
    /// Buffers for objects whose keys are out of order: each is copied here
    /// and written again, sorted.
    spare: Vec<String>,
    /// One list per open object: its members' keys and where each member
    /// (key and value) was written, to sort them if they came out of order.
    spare_members: Vec<Vec<(Cow<'a, str>, usize, usize)>>,
}

impl<'a> Walk<'a> {
    pub fn new(text: &'a str) -> Self {
        Walk { text, at: 0, spare: Vec::new(), spare_members: Vec::new() }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Whitespace, then `byte`.
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Option<()> {
        self.skip_whitespace();
        (self.at == self.text.len()).then_some(())
    }

    /// Walks one value inside `level` open containers, writing its canonical
    /// form to `out`.
    pub fn value(&mut self, out: &mut String, level: usize) -> Option<()> {
        self.skip_whitespace();
        match self.peek()? {
            b'{' => self.object(out, level + 1),
            b'[' => self.array(out, level + 1),
            b'"' => {
                let text = self.string()?;
                write_string(out, &text, matches!(text, Cow::Owned(_)));
                Some(())
            }
            b't' => self.literal("true", out),
            b'f' => self.literal("false", out),
            b'n' => self.literal("null", out),
            _ => self.integer(out),
        }
    }

    /// The members of the object at this position, one call of `member` each
    /// with the key and the walk at its value (which `member` must walk), in
    /// the text's order. Keys are not checked for repeats here.
    pub fn members(&mut self, mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.text()?;
            self.eat(b':')?;
            member(self, key)?;
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string value, unescaped.
    pub fn text(&mut self) -> Option<Cow<'a, str>> {
        self.skip_whitespace();
        (self.peek() == Some(b'"')).then_some(())?;
        self.string()
    }

    /// Members are written to `out` as they come; most texts have their keys
    /// in order already. Only if one is out of order is the object taken
    /// back out and written again, sorted.
    fn object(&mut self, out: &mut String, level: usize) -> Option<()> {
        if level > JSON_DEPTH_MAX {
            return None;
        }
        let mut members = self.spare_members.pop().unwrap_or_default();
        members.clear();
        let start = out.len();
        let mut sorted = true;
        out.push('{');
        self.members(|walk, key| {
            if let Some((last, _, _)) = members.last() {
                out.push(',');
                sorted &= last.as_bytes() < key.as_bytes();
            }
            let at = out.len();
            write_string(out, &key, matches!(key, Cow::Owned(_)));
            out.push(':');
            walk.value(out, level)?;
            members.push((key, at, out.len()));
            Some(())
        })?;
        out.push('}');
        if !sorted {
            let mut written = self.spare.pop().unwrap_or_default();
            written.clear();
            written.push_str(&out[start..]);
            out.truncate(start);
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            if members.windows(2).any(|pair| pair[0].0 == pair[1].0) {
                return None;
            }
            out.push('{');
            for (i, (_, from, to)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&written[from - start..to - start]);
            }
            out.push('}');
            self.spare.push(written);
        }
        self.spare_members.push(members);
        Some(())
    }

    fn array(&mut self, out: &mut String, level: usize) -> Option<()> {
        if level > JSON_DEPTH_MAX {
            return None;
        }
        self.at += 1;
        out.push('[');
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            out.push(']');
            return Some(());
        }
        loop {
            self.value(out, level)?;
            self.skip_whitespace();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    out.push(',');
                }
                b']' => {
                    self.at += 1;
                    out.push(']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &str, out: &mut String) -> Option<()> {
        self.bytes()[self.at..].starts_with(word.as_bytes()).then_some(())?;
        self.at += word.len();
        out.push_str(word);
        Some(())
    }

    /// An integer as serde_json reads one that the strict parse keeps: it
    /// reads `-0`, a fraction or an exponent as a float, and a leading zero
    /// as an error. Written back as it stands, which is its canonical form.
    fn integer(&mut self, out: &mut String) -> Option<()> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let mut magnitude: u64 = 0;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while let Some(digit @ b'0'..=b'9') = self.peek() {
                    magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
                    self.at += 1;
                }
            }
            _ => return None,
        }
        if matches!(self.peek(), Some(b'0'..=b'9' | b'.' | b'e' | b'E')) || (negative && magnitude == 0) {
            return None;
        }
        if magnitude > INTEGER_ABS_MAX {
            return None;
        }
        out.push_str(&self.text[start..self.at]);
        Some(())
    }

    /// The string at this position (at its opening quote), unescaped;
    /// borrowed from the text when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.at += 1;
        let start = self.at;
        let mut owned: Option<String> = None;
        loop {
            let rest = &self.bytes()[self.at..];
            let stop = string_stop(rest)?;
            let run = &self.text[self.at..self.at + stop];
            self.at += stop + 1;
            match rest[stop] {
                b'"' => {
                    return Some(match owned {
                        None => Cow::Borrowed(&self.text[start..self.at - 1]),
                        Some(mut text) => {
                            text.push_str(run);
                            Cow::Owned(text)
                        }
                    })
                }
                b'\\' => {}
                // A control character may not stand in a string as itself.
                _ => return None,
            }
            let text = owned.get_or_insert_with(|| String::with_capacity(2 * run.len() + 8));
            text.push_str(run);
            let escaped = match self.peek()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    self.at += 1;
                    let unit = self.hex4()?;
                    let code = match unit {
                        0xD800..=0xDBFF => {
                            // A leading surrogate: its trailing one must follow.
                            (self.bytes()[self.at..].starts_with(b"\\u")).then_some(())?;
                            self.at += 2;
                            let low = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&low) {
                                return None;
                            }
                            0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        }
                        0xDC00..=0xDFFF => return None,
                        _ => unit,
                    };
                    text.push(char::from_u32(code)?);
                    continue;
                }
                _ => return None,
            };
            self.at += 1;
            text.push(escaped);
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes().get(self.at..self.at + 4)?;
        let mut value = 0;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16)?;
        }
        self.at += 4;
        Some(value)
    }
}

/// A string the walk read, in canonical form. One that had no escapes in
/// the text (`Cow::Borrowed`) is written as it stood: a quote, a backslash
/// or a control character would have ended its run, so nothing in it needs
/// escaping. One that had escapes is escaped again by serde_json, as every
/// record is.
fn write_string(out: &mut String, text: &str, had_escapes: bool) {
    if had_escapes {
        out.push_str(&serde_json::to_string(text).expect("a string always serializes"));
        return;
    }
    out.push('"');
    out.push_str(text);
    out.push('"');
}

/// Where in `bytes` the first `"`, `\` or control character is: where a
/// run of a JSON string's plain text stops. Eight bytes at a time, as
/// serde_json looks for them. Verify's canonical-form scanner uses it too.
pub(crate) fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let chunk = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let control = chunk.wrapping_sub(ONES * 0x20) & !chunk;
        let quote = chunk ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = chunk ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let found = (control | quote | backslash) & HIGH;
        if found != 0 {
            // The lowest flagged byte is exact (borrows only run upward).
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the strict parse makes of `text`, written the canonical way.
    fn reference(text: &str) -> Option<String> {
        let value = crate::submission::parse_strict(text).ok()?;
        Some(serde_json::to_string(&value).expect("a Value always serializes"))
    }

    /// Characters that strings are made of: every kind that is escaped,
    /// written as itself, or not allowed as itself.
    fn arb_char() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::char::range('\0', '\x7f'),
            any::<char>(),
            Just('"'),
            Just('\\'),
            Just('/'),
            Just('\u{7f}'),
            Just('\u{2028}'),
            Just('é'),
            Just('😀'),
        ]
    }

    /// One character of a string literal, as itself or in any escape.
    fn written_char(c: char, how: u8) -> String {
        let mut units = [0u16; 2];
        let escaped: String = c.encode_utf16(&mut units).iter().map(|u| format!("\\u{u:04x}")).collect();
        match how % 6 {
            0 => escaped,
            1 => escaped.to_uppercase().replace("\\U", "\\u"),
            2 => match c {
                '"' => "\\\"".into(),
                '\\' => "\\\\".into(),
                '/' => "\\/".into(),
                '\u{8}' => "\\b".into(),
                '\u{c}' => "\\f".into(),
                '\n' => "\\n".into(),
                '\r' => "\\r".into(),
                '\t' => "\\t".into(),
                other => other.to_string(),
            },
            // Broken escapes: a lone surrogate, an unknown escape.
            3 if c == 'x' => "\\ud800".into(),
            3 if c == 'y' => "\\udc00x".into(),
            3 if c == 'z' => "\\q".into(),
            _ => c.to_string(),
        }
    }

    fn arb_string() -> impl Strategy<Value = String> {
        prop::collection::vec((arb_char(), any::<u8>()), 0..6).prop_map(|chars| {
            let body: String = chars.into_iter().map(|(c, how)| written_char(c, how)).collect();
            format!("\"{body}\"")
        })
    }

    fn arb_number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (-(1i64 << 53) - 2..(1i64 << 53) + 2).prop_map(|n| n.to_string()),
            (0u32..1000).prop_map(|n| n.to_string()),
            prop::sample::select(vec![
                "-0",
                "0",
                "-",
                "01",
                "-01",
                "1.0",
                "1e3",
                "2E-1",
                "0.5",
                "99999999999999999999"
            ])
            .prop_map(str::to_string),
        ]
    }

    /// Whitespace JSON allows, none, or some it does not.
    fn arb_space() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", "", " ", "\n", "\t", "\r\n ", "\u{a0}", "\u{c}"])
    }

    /// JSON texts, valid or nearly: any values, keys from a small alphabet
    /// (so some repeat), any whitespace, trailing commas, stray tokens.
    fn arb_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            prop::sample::select(vec!["true", "false", "null", "nul", "tru"]).prop_map(str::to_string),
            arb_number(),
            arb_string(),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            let key = prop_oneof![
                "[a-d]{1,2}".prop_map(|k| format!("\"{k}\"")),
                Just("\"\\u0061\"".to_string()),
                Just("\"b\\u0000\"".to_string()),
                arb_string(),
            ];
            let member = (arb_space(), key, arb_space(), inner.clone(), arb_space())
                .prop_map(|(a, k, b, v, c)| format!("{a}{k}{b}:{v}{c}"));
            prop_oneof![
                (prop::collection::vec((arb_space(), inner), 0..5), any::<u8>()).prop_map(|(items, end)| {
                    let items: Vec<String> = items.into_iter().map(|(s, v)| format!("{s}{v}")).collect();
                    format!("[{}{}]", items.join(","), if end == 0 { "," } else { "" })
                }),
                (prop::collection::vec(member, 0..5), any::<u8>()).prop_map(|(members, end)| {
                    format!("{{{}{}}}", members.join(","), if end == 0 { "," } else { "" })
                }),
            ]
        })
        .prop_flat_map(|value| (arb_space(), Just(value), arb_space(), any::<u8>()))
        .prop_map(|(before, value, after, tail)| match tail {
            0 => format!("{before}{value}{after}x"),
            1 => format!("{before}{value}{after}{value}"),
            _ => format!("{before}{value}{after}"),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn the_walk_agrees_with_the_strict_parse(text in arb_text()) {
            prop_assert_eq!(canonical(&text), reference(&text), "{:?}", text);
        }

        #[test]
        fn nesting_is_allowed_to_the_strict_parse_s_limit(depth in 1usize..20, objects in any::<bool>()) {
            let (open, close) = if objects { ("{\"a\":", "}") } else { ("[", "]") };
            let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            prop_assert_eq!(canonical(&text), reference(&text));
            prop_assert_eq!(canonical(&text).is_some(), depth <= JSON_DEPTH_MAX);
        }
    }

    #[test]
    fn some_texts_by_hand() {
        let cases = [
            (r#" { "b" : [1, -2, true,null] , "a":"x\/y\u00e9\n" } "#, Some(r#"{"a":"x/yé\n","b":[1,-2,true,null]}"#)),
            (r#""\ud83d\ude00""#, Some("\"😀\"")),
            (r#"{"a":1,"a":2}"#, None),
            (r#"{"a":1,"\u0061":2}"#, None),
            ("-0", None),
            ("9007199254740991", Some("9007199254740991")),
            ("9007199254740992", None),
            ("\"\u{1}\"", None),
            ("\"\\u0001\\u001F\\u007f\"", Some("\"\\u0001\\u001f\u{7f}\"")),
            ("[1,]", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(canonical(text).as_deref(), want, "{text:?}");
            assert_eq!(reference(text).as_deref(), want, "the strict parse of {text:?}");
        }
    }
}
