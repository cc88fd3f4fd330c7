//! Judging a distribution's license: PEP 639 `License-Expression` (SPDX), else the legacy
//! `License` field when it is a bare SPDX id, else the `License ::` Trove classifiers.

use std::collections::BTreeSet;

use spdx::{Expression, LicenseItem, LicenseReq, ParseMode};

use crate::facts::LicenseFacts;
use crate::matcher::LicenseName;

/// Trove classifiers that name one license precisely. Vague ones (`BSD License`, `GNU General
/// Public License (GPL)`, `OSI Approved`) are left out on purpose: they do not say which license,
/// so they count as unknown.
const CLASSIFIERS: &[(&str, &str)] = &[
    ("License :: OSI Approved :: MIT License", "MIT"),
    (
        "License :: OSI Approved :: MIT No Attribution License (MIT-0)",
        "MIT-0",
    ),
    (
        "License :: OSI Approved :: Apache Software License",
        "Apache-2.0",
    ),
    ("License :: OSI Approved :: ISC License (ISCL)", "ISC"),
    (
        "License :: OSI Approved :: Python Software Foundation License",
        "PSF-2.0",
    ),
    (
        "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)",
        "MPL-2.0",
    ),
    (
        "License :: OSI Approved :: GNU General Public License v2 (GPLv2)",
        "GPL-2.0-only",
    ),
    (
        "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)",
        "GPL-2.0-or-later",
    ),
    (
        "License :: OSI Approved :: GNU General Public License v3 (GPLv3)",
        "GPL-3.0-only",
    ),
    (
        "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
        "GPL-3.0-or-later",
    ),
    (
        "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)",
        "LGPL-2.0-only",
    ),
    (
        "License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)",
        "LGPL-2.0-or-later",
    ),
    (
        "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)",
        "LGPL-3.0-only",
    ),
    (
        "License :: OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)",
        "LGPL-3.0-or-later",
    ),
    (
        "License :: OSI Approved :: GNU Affero General Public License v3",
        "AGPL-3.0-only",
    ),
    (
        "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)",
        "AGPL-3.0-or-later",
    ),
    (
        "License :: OSI Approved :: The Unlicense (Unlicense)",
        "Unlicense",
    ),
    (
        "License :: OSI Approved :: Boost Software License 1.0 (BSL-1.0)",
        "BSL-1.0",
    ),
    (
        "License :: OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)",
        "EPL-2.0",
    ),
    ("License :: OSI Approved :: zlib/libpng License", "Zlib"),
    (
        "License :: OSI Approved :: Historical Permission Notice and Disclaimer (HPND)",
        "HPND",
    ),
    ("License :: OSI Approved :: Zope Public License", "ZPL-2.1"),
    (
        "License :: OSI Approved :: Universal Permissive License (UPL)",
        "UPL-1.0",
    ),
    (
        "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication",
        "CC0-1.0",
    ),
];

/// What a distribution's license metadata says, as the policy reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Declared {
    /// A parsed SPDX expression (from the expression, the legacy field, or classifiers).
    Expression(String),
    /// Nothing the policy can read.
    Unknown,
}

/// Read the license metadata.
pub(crate) fn declared(facts: &LicenseFacts) -> Declared {
    if let Some(expression) = facts
        .expression
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        return Declared::Expression(expression.to_string());
    }
    if let Some(field) = facts.license_field.as_deref().map(str::trim)
        && spdx::license_id(field).is_some()
    {
        return Declared::Expression(field.to_string());
    }
    // Several license classifiers traditionally mean "any of these" (dual licensing).
    let ids: BTreeSet<&str> = facts
        .classifiers
        .iter()
        .filter_map(|classifier| {
            CLASSIFIERS
                .iter()
                .find(|(trove, _)| trove == &classifier.trim())
                .map(|(_, id)| *id)
        })
        .collect();
    if ids.is_empty() {
        Declared::Unknown
    } else {
        Declared::Expression(ids.into_iter().collect::<Vec<_>>().join(" OR "))
    }
}

/// The outcome of judging one license expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Acceptable.
    Pass,
    /// Refused; the licenses that failed.
    Refused(Vec<String>),
    /// The expression does not parse as SPDX.
    Unparsable(String),
}

/// Judge `expression`: `A OR B` passes if either alternative passes, `A AND B` needs both; one
/// license passes when it is not denied and, if there is an allowlist, is on it.
pub(crate) fn judge(
    expression: &str,
    allow: Option<&BTreeSet<LicenseName>>,
    deny: &BTreeSet<LicenseName>,
) -> Verdict {
    let parsed = match Expression::parse_mode(expression, ParseMode::LAX) {
        Ok(parsed) => parsed,
        Err(err) => return Verdict::Unparsable(err.to_string()),
    };
    let name = |req: &LicenseReq| match &req.license {
        LicenseItem::Spdx { id, .. } => id.name.to_string(),
        LicenseItem::Other(other) => other.to_string(),
    };
    let passes = |req: &LicenseReq| {
        let name = LicenseName(name(req));
        !deny.contains(&name) && allow.is_none_or(|allow| allow.contains(&name))
    };
    if parsed.evaluate(passes) {
        return Verdict::Pass;
    }
    let failed: BTreeSet<String> = parsed
        .requirements()
        .filter(|req| !passes(&req.req))
        .map(|req| name(&req.req))
        .collect();
    Verdict::Refused(failed.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<LicenseName> {
        ids.iter()
            .map(|id| LicenseName((*id).to_string()))
            .collect()
    }

    #[test]
    fn or_needs_one_and_needs_all() {
        let allow = set(&["MIT"]);
        assert_eq!(
            judge("MIT OR GPL-3.0-only", Some(&allow), &set(&[])),
            Verdict::Pass
        );
        assert_eq!(
            judge("MIT AND GPL-3.0-only", Some(&allow), &set(&[])),
            Verdict::Refused(vec!["GPL-3.0-only".to_string()])
        );
        assert_eq!(
            judge("MIT", None, &set(&["MIT"])),
            Verdict::Refused(vec!["MIT".to_string()])
        );
        assert!(matches!(
            judge("not a license (", None, &set(&[])),
            Verdict::Unparsable(_)
        ));
    }

    #[test]
    fn classifiers_and_legacy_field() {
        let facts = LicenseFacts {
            classifiers: vec![
                "License :: OSI Approved :: MIT License".to_string(),
                "License :: OSI Approved :: Apache Software License".to_string(),
            ],
            ..LicenseFacts::default()
        };
        assert_eq!(
            declared(&facts),
            Declared::Expression("Apache-2.0 OR MIT".to_string())
        );
        let vague = LicenseFacts {
            classifiers: vec!["License :: OSI Approved :: BSD License".to_string()],
            license_field: Some("BSD".to_string()),
            ..LicenseFacts::default()
        };
        assert_eq!(declared(&vague), Declared::Unknown);
        let legacy = LicenseFacts {
            license_field: Some("MIT".to_string()),
            ..LicenseFacts::default()
        };
        assert_eq!(declared(&legacy), Declared::Expression("MIT".to_string()));
    }
}
