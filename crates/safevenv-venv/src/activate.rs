//! Activation scripts: our own templates, with the environment's values quoted for each shell.

use std::path::Path;

/// One activation script: its file name, its template, and how its shell quotes a literal string.
struct Script {
    name: &'static str,
    template: &'static str,
    quote: fn(&str) -> String,
}

const SCRIPTS: [Script; 4] = [
    Script {
        name: "activate",
        template: include_str!("activate/activate.sh"),
        quote: quote_posix,
    },
    Script {
        name: "activate.fish",
        template: include_str!("activate/activate.fish"),
        quote: quote_fish,
    },
    Script {
        name: "activate.csh",
        template: include_str!("activate/activate.csh"),
        quote: quote_csh,
    },
    Script {
        name: "Activate.ps1",
        template: include_str!("activate/Activate.ps1"),
        quote: quote_powershell,
    },
];

/// The activation scripts for an environment at `root` with its scripts in `scripts`, as
/// `(file name, contents)`. The caller has refused values with control characters, which no
/// quoting below can carry safely.
pub(crate) fn render(root: &Path, scripts: &Path, prompt: &str) -> Vec<(&'static str, String)> {
    let root = root.to_string_lossy();
    let scripts = scripts.to_string_lossy();
    SCRIPTS
        .iter()
        .map(|script| {
            let quote = script.quote;
            let text = script
                .template
                .replace("__SAFEVENV_ROOT__", &quote(&root))
                .replace("__SAFEVENV_SCRIPTS__", &quote(&scripts))
                .replace("__SAFEVENV_PROMPT__", &quote(prompt));
            (script.name, text)
        })
        .collect()
}

/// bash, zsh, sh: inside single quotes nothing is special but `'` itself, written `'\''`.
fn quote_posix(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// fish: inside single quotes only `\` and `'` are special, both escaped with a backslash.
fn quote_fish(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// csh, tcsh: like POSIX single quotes, except that history expansion (`!`) still happens inside
/// them and must be escaped.
fn quote_csh(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''").replace('!', r"\!"))
}

/// PowerShell: inside single quotes only `'` is special, doubled. PowerShell also takes the
/// typographic quotes U+2018..U+201B as single quotes, so those are doubled too.
fn quote_powershell(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_posix("a b'c"), r"'a b'\''c'");
        assert_eq!(quote_fish(r"a\b'c"), r"'a\\b\'c'");
        assert_eq!(quote_csh("a'b!c"), r"'a'\''b\!c'");
        assert_eq!(quote_powershell("a'b\u{2019}c"), "'a''b\u{2019}\u{2019}c'");
    }

    #[test]
    fn every_placeholder_is_filled() {
        let rendered = render(Path::new("/env"), Path::new("/env/bin"), "env");
        assert_eq!(rendered.len(), 4);
        for (name, text) in rendered {
            assert!(!text.contains("__SAFEVENV_"), "{name}");
            assert!(text.contains("'/env'"), "{name}");
            assert!(text.contains("'/env/bin'"), "{name}");
        }
    }
}
