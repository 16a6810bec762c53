//! Finding the code in an answer (pure).
//!
//! Rules, in order:
//! 1. **Normalise**: drop a leading BOM, turn CRLF and lone CR into LF, and
//!    remove closed `<think>…</think>` sections (reasoning models put drafts
//!    there).
//! 2. **Fenced blocks** open with a line of three or more backticks or tildes
//!    (any indentation, optional info string) and close with a line of the same
//!    character at least as long and nothing else. The opening indentation is
//!    removed from the block's lines. A fence still open at the end of the
//!    answer (the answer was cut off) takes everything after it. The info
//!    string's language is its leading run of letters, digits, `_`, `+`, `-`
//!    (so `python title="x"` and `py:solution.py` are Python).
//! 3. Among blocks **tagged with the item's language** (Python: `python`, `py`,
//!    `python3`, `py3`; JavaScript: `javascript`, `js`, `node`, `nodejs`,
//!    `mjs`, `cjs`, `jsx`), take the one that defines the entry point
//!    (Python: a top-level `def name(`, `async def name(` or `class name`;
//!    JavaScript: `function name`, `async function name`, `function* name`,
//!    `const|let|var name =`, `class name`, `exports.name =`, each possibly
//!    after `export`/`export default`); if several do, the longest (the last on
//!    a tie); if none does, the longest tagged block.
//! 4. Otherwise the same choice among **untagged** blocks. Blocks tagged with
//!    another language (`bash`, `text`, `output`, …) are never taken.
//! 5. **No fenced block at all**: if the text defines the entry point, the code
//!    starts at the first line that looks like code (Python: `def`, `class`,
//!    `import`, `from`, `@`, `async def`, `#`; JavaScript: `function`,
//!    `async function`, `const`, `let`, `var`, `class`, `'use strict'`,
//!    `"use strict"`, `//`, `/*`, `export`, `module.exports`, `import`) and
//!    runs to the end; whether it compiles is for the sandbox to say.
//! 6. Anything else is `no_code`.

use super::Language;

/// Where the extracted code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// A closed fenced block; `tagged` when its info string named the language.
    Fenced { tagged: bool },
    /// A fence left open at the end of the answer.
    Unterminated { tagged: bool },
    /// Plain text without fences.
    WholeText,
}

/// The code found in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub code: String,
    pub source: CodeSource,
    /// Whether the code visibly defines the entry point.
    pub defines_entry: bool,
}

/// Why no code was found: a short explanation for the `no_code` detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoCode(pub String);

/// Extracts the code of `language` from `answer` following the module rules.
pub fn extract(answer: &str, language: Language, entry_point: &str) -> Result<Extracted, NoCode> {
    let text = normalise(answer);
    let blocks = fenced_blocks(&text);
    if blocks.is_empty() {
        return whole_text(&text, language, entry_point);
    }
    let tagged: Vec<&Block> = blocks
        .iter()
        .filter(|b| tag_language(&b.info) == Some(language))
        .collect();
    let untagged: Vec<&Block> = blocks.iter().filter(|b| b.info.is_empty()).collect();
    for (candidates, is_tagged) in [(tagged, true), (untagged, false)] {
        if let Some(block) = choose(&candidates, language, entry_point) {
            let defines_entry = defines(&block.code, language, entry_point);
            let source = if block.closed {
                CodeSource::Fenced { tagged: is_tagged }
            } else {
                CodeSource::Unterminated { tagged: is_tagged }
            };
            return Ok(Extracted {
                code: block.code.clone(),
                source,
                defines_entry,
            });
        }
    }
    let mut others: Vec<String> = blocks
        .iter()
        .map(|b| first_word(&b.info).to_string())
        .collect();
    others.dedup();
    Err(NoCode(format!(
        "no {language} code block (found blocks tagged: {})",
        others.join(", ")
    )))
}

/// BOM, line endings and closed `<think>` sections.
pub fn normalise(answer: &str) -> String {
    let text = answer.strip_prefix('\u{feff}').unwrap_or(answer);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    strip_think(&text)
}

fn strip_think(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<think>") {
        let Some(len) = rest[start..].find("</think>") else {
            break;
        };
        out.push_str(&rest[..start]);
        rest = &rest[start + len + "</think>".len()..];
    }
    out.push_str(rest);
    out
}

#[derive(Debug)]
struct Block {
    info: String,
    code: String,
    closed: bool,
}

/// An opening fence: (indent, fence char, fence length, info string).
fn opening(line: &str) -> Option<(usize, char, usize, &str)> {
    let body = line.trim_start();
    let indent = line.len() - body.len();
    let ch = body.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = body.chars().take_while(|c| *c == ch).count();
    if len < 3 {
        return None;
    }
    let info = body[len..].trim();
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some((indent, ch, len, info))
}

fn closes(line: &str, ch: char, len: usize) -> bool {
    let body = line.trim();
    body.chars().count() >= len && body.chars().all(|c| c == ch)
}

fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        let Some((indent, ch, len, info)) = opening(line) else {
            continue;
        };
        let mut body: Vec<&str> = Vec::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            if closes(inner, ch, len) {
                closed = true;
                break;
            }
            body.push(strip_indent(inner, indent));
        }
        let mut code = body.join("\n");
        if !code.is_empty() {
            code.push('\n');
        }
        blocks.push(Block {
            info: info.to_string(),
            code,
            closed,
        });
    }
    blocks
}

/// Removes up to `indent` leading spaces/tabs.
fn strip_indent(line: &str, indent: usize) -> &str {
    let removable = line
        .bytes()
        .take(indent)
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count();
    &line[removable..]
}

fn first_word(info: &str) -> &str {
    let end = info
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '+' || c == '-'))
        .unwrap_or(info.len());
    &info[..end]
}

fn tag_language(info: &str) -> Option<Language> {
    match first_word(info).to_ascii_lowercase().as_str() {
        "python" | "py" | "python3" | "py3" => Some(Language::Python),
        "javascript" | "js" | "node" | "nodejs" | "mjs" | "cjs" | "jsx" => {
            Some(Language::JavaScript)
        }
        _ => None,
    }
}

fn choose<'a>(blocks: &[&'a Block], language: Language, entry: &str) -> Option<&'a Block> {
    let non_empty: Vec<&Block> = blocks
        .iter()
        .copied()
        .filter(|b| !b.code.trim().is_empty())
        .collect();
    let defining: Vec<&Block> = non_empty
        .iter()
        .copied()
        .filter(|b| defines(&b.code, language, entry))
        .collect();
    let pool = if defining.is_empty() {
        &non_empty
    } else {
        &defining
    };
    // `max_by_key` keeps the last of equal maxima.
    pool.iter().copied().max_by_key(|b| b.code.len())
}

/// Whether `code` visibly defines `entry` (see the module rules).
pub fn defines(code: &str, language: Language, entry: &str) -> bool {
    code.lines().any(|line| match language {
        Language::Python => python_defines(line, entry),
        Language::JavaScript => js_defines(line.trim_start(), entry),
    })
}

/// `rest` starts with `name` followed by a character that ends an identifier.
fn names(rest: &str, name: &str) -> bool {
    rest.strip_prefix(name).is_some_and(|after| {
        after
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '$'))
    })
}

fn python_defines(line: &str, entry: &str) -> bool {
    let line = line.strip_prefix("async ").unwrap_or(line);
    ["def ", "class "].iter().any(|kw| {
        line.strip_prefix(kw)
            .is_some_and(|rest| names(rest.trim_start(), entry))
    })
}

fn js_defines(line: &str, entry: &str) -> bool {
    let mut line = line;
    for prefix in ["export ", "default "] {
        line = line.strip_prefix(prefix).map_or(line, str::trim_start);
    }
    let line = line.strip_prefix("async ").map_or(line, str::trim_start);
    let keywords = [
        "function* ",
        "function ",
        "const ",
        "let ",
        "var ",
        "class ",
        "exports.",
        "module.exports.",
    ];
    keywords.iter().any(|kw| {
        line.strip_prefix(kw)
            .is_some_and(|rest| names(rest.trim_start(), entry))
    })
}

fn whole_text(text: &str, language: Language, entry: &str) -> Result<Extracted, NoCode> {
    if !defines(text, language, entry) {
        return Err(NoCode(format!(
            "no fenced block and no {language} code defining {entry}"
        )));
    }
    let starts: &[&str] = match language {
        Language::Python => &["def ", "class ", "import ", "from ", "@", "async def ", "#"],
        Language::JavaScript => &[
            "function",
            "async function",
            "const ",
            "let ",
            "var ",
            "class ",
            "'use strict'",
            "\"use strict\"",
            "//",
            "/*",
            "export ",
            "module.exports",
            "import ",
        ],
    };
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        if starts.iter().any(|s| line.starts_with(s)) {
            start = Some(offset);
            break;
        }
        offset += line.len();
    }
    // `defines` matched a line, so for Python a `def`/`class` line exists; for
    // JavaScript an indented definition may be the only match: keep it all.
    let code = &text[start.unwrap_or(0)..];
    Ok(Extracted {
        code: code.to_string(),
        source: CodeSource::WholeText,
        defines_entry: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: Language = Language::Python;
    const JS: Language = Language::JavaScript;

    fn code(answer: &str, lang: Language, entry: &str) -> String {
        extract(answer, lang, entry).unwrap().code
    }

    #[test]
    fn tagged_block_is_taken() {
        let a = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nDone.";
        let e = extract(a, PY, "add").unwrap();
        assert_eq!(e.code, "def add(a, b):\n    return a + b\n");
        assert_eq!(e.source, CodeSource::Fenced { tagged: true });
        assert!(e.defines_entry);
    }

    #[test]
    fn tagged_block_defining_entry_beats_longer_one() {
        let a = "```py\nimport os\nimport sys\nprint('a long example of usage here')\n```\n\
                 ```python\ndef f(x):\n    return x\n```\n";
        assert_eq!(code(a, PY, "f"), "def f(x):\n    return x\n");
    }

    #[test]
    fn longest_tagged_block_when_none_defines() {
        let a = "```python\nx = 1\n```\n```python\ny = 2\nz = 3\n```\n";
        assert_eq!(code(a, PY, "f"), "y = 2\nz = 3\n");
    }

    #[test]
    fn several_defining_blocks_take_the_longest() {
        let a = "```python\ndef f(x): return 1\n```\n\
                 ```python\ndef f(x):\n    # fixed\n    return x\n```\n";
        assert_eq!(code(a, PY, "f"), "def f(x):\n    # fixed\n    return x\n");
    }

    #[test]
    fn tagged_beats_untagged() {
        let a = "```\ndef f(): pass\n# much longer untagged block here\n```\n```python\nx = 1\n```";
        assert_eq!(code(a, PY, "f"), "x = 1\n");
    }

    #[test]
    fn untagged_block_defining_entry() {
        let a = "```\nprint(f(2))\n```\n~~~\ndef f(x):\n    return 2 * x\n~~~\n";
        let e = extract(a, PY, "f").unwrap();
        assert_eq!(e.code, "def f(x):\n    return 2 * x\n");
        assert_eq!(e.source, CodeSource::Fenced { tagged: false });
    }

    #[test]
    fn other_language_blocks_are_not_taken() {
        let a = "```bash\npip install foo\n```\n```text\noutput\n```";
        let err = extract(a, PY, "f").unwrap_err();
        assert!(err.0.contains("bash, text"), "{}", err.0);
        let a = "```python\ndef f(): pass\n```";
        assert!(extract(a, JS, "f").is_err());
    }

    #[test]
    fn info_string_variants() {
        let a = "```Python3 title=\"sol.py\"\ndef f(): pass\n```";
        assert_eq!(code(a, PY, "f"), "def f(): pass\n");
        let a = "```py:solution.py\ndef f(): pass\n```";
        assert_eq!(code(a, PY, "f"), "def f(): pass\n");
        let a = "````js\nfunction f() {}\n````";
        assert_eq!(code(a, JS, "f"), "function f() {}\n");
    }

    #[test]
    fn longer_fence_holds_shorter_fences() {
        let a = "````python\ns = '''\n```\n'''\ndef f(): return s\n````\n";
        assert_eq!(code(a, PY, "f"), "s = '''\n```\n'''\ndef f(): return s\n");
    }

    #[test]
    fn indented_fence_is_dedented() {
        let a = "1. Code:\n   ```python\n   def f(x):\n       return x\n   ```\n";
        assert_eq!(code(a, PY, "f"), "def f(x):\n    return x\n");
    }

    #[test]
    fn unterminated_fence_takes_the_rest() {
        let a = "Sure!\n```python\ndef f(x):\n    return x +";
        let e = extract(a, PY, "f").unwrap();
        assert_eq!(e.code, "def f(x):\n    return x +\n");
        assert_eq!(e.source, CodeSource::Unterminated { tagged: true });
    }

    #[test]
    fn bom_and_crlf_are_normalised() {
        let a = "\u{feff}```python\r\ndef f():\r\n    return 1\r\n```\r\n";
        assert_eq!(code(a, PY, "f"), "def f():\n    return 1\n");
    }

    #[test]
    fn think_sections_are_ignored() {
        let a = "<think>\n```python\ndef f(): return 'draft, longer than the answer'\n```\n</think>\n\
                 ```python\ndef f(): return 1\n```";
        assert_eq!(code(a, PY, "f"), "def f(): return 1\n");
    }

    #[test]
    fn bare_code_without_fences() {
        let a = "def f(x):\n    return x\n";
        let e = extract(a, PY, "f").unwrap();
        assert_eq!(e.code, a);
        assert_eq!(e.source, CodeSource::WholeText);
        let a = "Here is the code:\nimport math\ndef f(x):\n    return math.sqrt(x)\n";
        assert_eq!(
            code(a, PY, "f"),
            "import math\ndef f(x):\n    return math.sqrt(x)\n"
        );
    }

    #[test]
    fn prose_is_no_code() {
        let err = extract("I cannot help with that.", PY, "f").unwrap_err();
        assert!(err.0.contains("defining f"));
        assert!(extract("", PY, "f").is_err());
        assert!(extract("```python\n\n```", PY, "f").is_err());
    }

    #[test]
    fn entry_detection_needs_the_whole_name() {
        assert!(!defines("def add_one(x): pass", PY, "add"));
        assert!(defines("def add (x): pass", PY, "add"));
        assert!(defines("async def add(x): pass", PY, "add"));
        assert!(defines("class Stack:\n    pass", PY, "Stack"));
        assert!(!defines("    def add(self): pass", PY, "add"));
        assert!(defines("export default function add(a, b) {}", JS, "add"));
        assert!(defines("  const add = (a, b) => a + b;", JS, "add"));
        assert!(defines("async function add() {}", JS, "add"));
        assert!(defines("module.exports.add = add;", JS, "add"));
        assert!(!defines("const adder = 1", JS, "add"));
    }

    #[test]
    fn js_bare_text() {
        let a = "Use this:\nfunction add(a, b) {\n  return a + b;\n}\n";
        assert_eq!(
            code(a, JS, "add"),
            "function add(a, b) {\n  return a + b;\n}\n"
        );
    }
}
