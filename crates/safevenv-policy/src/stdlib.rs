//! Standard library module names per Python version, from `stdlib-modules.txt` (which says how it
//! was generated).

const DATA: &str = include_str!("stdlib-modules.txt");

/// The versions the data covers.
const FIRST: (u8, u8) = (3, 8);
const LAST: (u8, u8) = (3, 13);

fn parse_version(text: &str) -> Option<(u8, u8)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether `module` is a top-level standard library module of `python` (or of any version from
/// 3.8 to 3.13 when the target is unknown: the stricter answer). Versions past the data's last
/// are judged as the last.
pub(crate) fn is_stdlib_module(module: &str, python: Option<(u8, u8)>) -> bool {
    let python = python.map(|version| version.clamp(FIRST, LAST));
    DATA.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            let first = parse_version(fields.next()?)?;
            let last = parse_version(fields.next()?)?;
            Some((name, first, last))
        })
        .any(|(name, first, last)| {
            name == module && python.is_none_or(|version| (first..=last).contains(&version))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_matter() {
        assert!(is_stdlib_module("os", Some((3, 12))));
        assert!(is_stdlib_module("cgi", Some((3, 12))));
        assert!(!is_stdlib_module("cgi", Some((3, 13))));
        assert!(!is_stdlib_module("tomllib", Some((3, 10))));
        assert!(is_stdlib_module("tomllib", Some((3, 14))));
        assert!(is_stdlib_module("cgi", None));
        assert!(!is_stdlib_module("requests", None));
    }

    #[test]
    fn every_data_line_parses() {
        for line in DATA.lines().filter(|line| !line.starts_with('#')) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "{line}");
            assert!(
                parse_version(fields[1]).is_some() && parse_version(fields[2]).is_some(),
                "{line}"
            );
        }
    }
}
