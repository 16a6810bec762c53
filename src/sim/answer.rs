//! What the simulated models say: the suite's reference or broken solution,
//! prose without code, a cut-off solution, or generic prose. One "token" is
//! four characters everywhere (tokens = ceil(chars / 4)).

use rand::RngExt;

use crate::sim::scenario::Quality;
use crate::suite::SuiteItem;

/// The kind of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerKind {
    Reference,
    Broken,
    NoCode,
    SyntaxError,
    /// The entry point loops forever.
    InfiniteLoop,
    /// The entry point kills its own process.
    Crash,
    /// The prompt is not in the suite (or there is no suite).
    Generic,
}

impl AnswerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::Reference => "reference",
            AnswerKind::Broken => "broken",
            AnswerKind::NoCode => "no_code",
            AnswerKind::SyntaxError => "syntax_error",
            AnswerKind::InfiniteLoop => "infinite_loop",
            AnswerKind::Crash => "crash",
            AnswerKind::Generic => "generic",
        }
    }

    /// The kind a uniform draw `u` in [0, 1) selects from the quality weights.
    pub fn pick(q: &Quality, u: f64) -> AnswerKind {
        let weights = [
            (AnswerKind::Reference, q.reference),
            (AnswerKind::Broken, q.broken),
            (AnswerKind::NoCode, q.no_code),
            (AnswerKind::SyntaxError, q.syntax_error),
            (AnswerKind::InfiniteLoop, q.infinite_loop),
            (AnswerKind::Crash, q.crash),
        ];
        let total: f64 = weights.iter().map(|w| w.1).sum();
        if total <= 0.0 || !total.is_finite() {
            return AnswerKind::Reference;
        }
        let mut acc = 0.0;
        for (kind, w) in weights {
            acc += w / total;
            if u < acc {
                return kind;
            }
        }
        AnswerKind::Reference
    }
}

/// Tokens of a text: characters / 4, rounded up.
pub(crate) fn tokens_of(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Splits `text` into pieces of four characters (one token each).
pub(crate) fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 4 + 1);
    let mut start = 0;
    for (n, (i, _)) in text.char_indices().enumerate() {
        if n > 0 && n % 4 == 0 {
            out.push(&text[start..i]);
            start = i;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The first `tokens` tokens of `text`.
pub(crate) fn first_tokens(text: &str, tokens: u64) -> &str {
    let chars = usize::try_from(tokens.saturating_mul(4)).unwrap_or(usize::MAX);
    match text.char_indices().nth(chars) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

fn fenced(language: &str, code: &str) -> String {
    format!("```{language}\n{}\n```\n", code.trim_end())
}

/// The reference cut about in half, just after a character that leaves the
/// code unfinished (an open bracket, `:`, `=` or `,`), so it cannot parse.
fn cut_in_half(code: &str) -> String {
    let chars: Vec<char> = code.trim_end().chars().collect();
    let half = chars.len() / 2;
    let cut = chars
        .iter()
        .enumerate()
        .skip(half)
        .find(|(_, c)| matches!(c, '(' | '[' | '{' | ':' | '=' | ','))
        .map(|(i, _)| i + 1);
    match cut {
        Some(i) => chars[..i].iter().collect(),
        None => {
            let mut s: String = chars[..half].iter().collect();
            s.push('(');
            s
        }
    }
}

const WORDS: &[&str] = &[
    "the", "function", "returns", "a", "value", "for", "each", "input", "we", "check", "list",
    "first", "then", "loop", "over", "items", "and", "keep", "result", "edge", "case", "empty",
    "string", "number", "when", "is", "this", "approach", "runs", "in", "linear", "time", "with",
    "constant", "extra", "space", "so", "it", "handles", "large", "inputs", "well",
];

/// Prose of exactly `tokens` tokens (ASCII, so 4 × tokens characters).
pub(crate) fn prose<R: rand::Rng + ?Sized>(rng: &mut R, tokens: u64, opening: &str) -> String {
    let want = usize::try_from(tokens.saturating_mul(4))
        .unwrap_or(usize::MAX)
        .min(1 << 22);
    let mut text = String::with_capacity(want + 16);
    text.push_str(opening);
    let mut sentence_words = 0;
    while text.len() < want {
        let word = WORDS[rng.random_range(0..WORDS.len())];
        if sentence_words == 0 && !text.is_empty() {
            text.push(' ');
        }
        if sentence_words > 0 {
            text.push(' ');
        }
        text.push_str(word);
        sentence_words += 1;
        if sentence_words >= 8 + rng.random_range(0..6) {
            text.push('.');
            sentence_words = 0;
        }
    }
    text.truncate(want);
    text
}

/// The answer of `kind` to `item` (or generic prose of `tokens` tokens).
pub(crate) fn answer_text<R: rand::Rng + ?Sized>(
    kind: AnswerKind,
    item: Option<&SuiteItem>,
    tokens: u64,
    rng: &mut R,
) -> String {
    match (kind, item) {
        (AnswerKind::Reference, Some(item)) => fenced(&item.language, &item.reference),
        (AnswerKind::Broken, Some(item)) => fenced(&item.language, &item.broken),
        (AnswerKind::SyntaxError, Some(item)) => {
            fenced(&item.language, &cut_in_half(&item.reference))
        }
        (AnswerKind::InfiniteLoop, Some(item)) => {
            fenced(&item.language, &hostile_solution(item, false))
        }
        (AnswerKind::Crash, Some(item)) => fenced(&item.language, &hostile_solution(item, true)),
        (AnswerKind::NoCode, Some(_)) => prose(
            rng,
            tokens.max(20),
            "I would solve this step by step without writing the code here.",
        ),
        _ => prose(rng, tokens.max(1), ""),
    }
}

/// A solution defining the item's entry point that never returns, or that
/// kills its own process when called.
fn hostile_solution(item: &SuiteItem, crash: bool) -> String {
    let name = &item.entry_point;
    match (item.language.as_str(), crash) {
        ("javascript" | "js" | "node", false) => {
            format!("function {name}(...args) {{\n  while (true) {{}}\n}}\n")
        }
        ("javascript" | "js" | "node", true) => {
            format!("function {name}(...args) {{\n  process.exit(3);\n}}\n")
        }
        (_, false) => format!("def {name}(*args, **kwargs):\n    while True:\n        pass\n"),
        (_, true) => format!("import os\n\n\ndef {name}(*args, **kwargs):\n    os._exit(3)\n"),
    }
}

/// Reasoning text of `tokens` tokens.
pub(crate) fn reasoning_text<R: rand::Rng + ?Sized>(rng: &mut R, tokens: u64) -> String {
    prose(rng, tokens, "Let me think about what is asked.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn item() -> SuiteItem {
        SuiteItem {
            id: "add".into(),
            language: "python".into(),
            prompt: "Write add(a, b).".into(),
            entry_point: "add".into(),
            tests: vec!["assert add(1, 2) == 3".into()],
            reference: "def add(a, b):\n    return a + b\n".into(),
            broken: "def add(a, b):\n    return a - b\n".into(),
            max_tokens: None,
            timeout_s: None,
            tags: vec![],
        }
    }

    #[test]
    fn pieces_are_four_chars_and_rejoin() {
        let text = "héllo wörld, ünïcode ✓ ok";
        let p = pieces(text);
        assert_eq!(p.concat(), text);
        assert!(p.iter().all(|s| s.chars().count() <= 4));
        assert_eq!(p.len() as u64, tokens_of(text));
        assert_eq!(first_tokens(text, 2), "héllo wö");
        assert_eq!(first_tokens(text, 100), text);
    }

    #[test]
    fn prose_has_exact_token_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in [1, 7, 150, 1000] {
            assert_eq!(tokens_of(&prose(&mut rng, n, "")), n);
        }
    }

    #[test]
    fn kinds_follow_weights_and_texts_follow_kinds() {
        let q = Quality {
            reference: 1.0,
            broken: 1.0,
            ..Quality::default()
        };
        assert_eq!(AnswerKind::pick(&q, 0.49), AnswerKind::Reference);
        assert_eq!(AnswerKind::pick(&q, 0.5), AnswerKind::Broken);
        assert_eq!(
            AnswerKind::pick(&Quality::default(), 0.9),
            AnswerKind::Reference
        );
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let it = item();
        let r = answer_text(AnswerKind::Reference, Some(&it), 10, &mut rng);
        assert_eq!(r, "```python\ndef add(a, b):\n    return a + b\n```\n");
        let b = answer_text(AnswerKind::Broken, Some(&it), 10, &mut rng);
        assert!(b.contains("a - b"));
        let s = answer_text(AnswerKind::SyntaxError, Some(&it), 10, &mut rng);
        assert!(s.starts_with("```python\ndef add(a, b):"));
        assert!(!s.contains("return a + b"));
        let n = answer_text(AnswerKind::NoCode, Some(&it), 40, &mut rng);
        assert!(!n.contains("```"));
        let g = answer_text(AnswerKind::Reference, None, 12, &mut rng);
        assert_eq!(tokens_of(&g), 12);
    }
}
