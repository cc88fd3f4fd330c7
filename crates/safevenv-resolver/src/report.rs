//! The failure explanation: PubGrub's derivation tree in sentences, with the reasons why
//! versions were not candidates.

use pubgrub::{
    DefaultStringReporter, DerivationTree, Derived, External, Map, ReportFormatter, Reporter, Term,
};

use crate::VersionRange;
use crate::provider::{Pkg, Provider, Unavailable};

/// At most this many unusable versions are named per project, so a project with hundreds of
/// versions for another Python does not bury the explanation.
const MAX_REASONS: usize = 5;

/// The derivation in sentences, then why versions of the projects involved were not candidates.
pub(crate) fn explain(
    tree: &DerivationTree<Pkg, VersionRange, Unavailable>,
    provider: &Provider<'_>,
) -> String {
    // "No version of a in <1.0 | >1.0" adds nothing when a's only version is 1.0: fold those
    // facts into the dependencies they restrict, unless nothing would be left to explain.
    let mut collapsed = tree.clone();
    collapsed.collapse_no_versions();
    let shown = match collapsed {
        DerivationTree::Derived(_) => &collapsed,
        DerivationTree::External(_) => tree,
    };
    let mut text = DefaultStringReporter::report_with_formatter(shown, &Formatter { provider });

    let mut names: Vec<_> = tree.packages().into_iter().filter_map(Pkg::name).collect();
    names.sort();
    names.dedup();
    let mut notes = Vec::new();
    for name in names {
        if let Some(None) = provider.known_candidates(name) {
            notes.push(format!("{name} was not found on the index"));
            continue;
        }
        let reasons = provider.unusable_reasons(name, &VersionRange::any());
        let shown = reasons.len().min(MAX_REASONS);
        notes.extend(reasons[..shown].iter().cloned());
        if reasons.len() > shown {
            notes.push(format!(
                "{name}: {} more versions cannot be used",
                reasons.len() - shown
            ));
        }
    }
    if !notes.is_empty() {
        text.push_str("\nVersions that are not candidates:");
        for note in notes {
            text.push_str("\n  ");
            text.push_str(&note);
        }
    }
    text
}

/// PubGrub's default wording, with the root spoken of as "you" and "your requirements", ranges
/// as PEP 440 specifiers, and unusable versions explained.
struct Formatter<'a, 'p> {
    provider: &'a Provider<'p>,
}

/// `b>=2`, `b` for any version, `your requirements` for the root.
fn term(package: &Pkg, range: &VersionRange) -> String {
    match package {
        Pkg::Root => package.to_string(),
        _ if range.is_any() => package.to_string(),
        _ => format!("{package}{range}"),
    }
}

impl Formatter<'_, '_> {
    fn no_versions(&self, package: &Pkg, range: &VersionRange) -> String {
        let Some(name) = package.name() else {
            return "your requirements cannot be satisfied".to_string();
        };
        if let Some(None) = self.provider.known_candidates(name) {
            return format!("{name} was not found on the index");
        }
        format!("there is no usable version of {}", term(package, range))
    }
}

impl ReportFormatter<Pkg, VersionRange, Unavailable> for Formatter<'_, '_> {
    type Output = String;

    fn format_external(&self, external: &External<Pkg, VersionRange, Unavailable>) -> String {
        match external {
            External::NotRoot(package, version) => {
                format!("we are solving dependencies of {package} {version}")
            }
            External::NoVersions(package, range) => self.no_versions(package, range),
            External::Custom(Pkg::Root, _, Unavailable::ConflictingRequirements { name }) => {
                format!("your requirements ask for conflicting versions of {name}")
            }
            External::Custom(package, range, reason) => {
                format!("{} {reason}", term(package, range))
            }
            External::FromDependencyOf(Pkg::Root, _, dependency, range) => {
                format!("you require {}", term(dependency, range))
            }
            External::FromDependencyOf(package, package_range, dependency, range) => format!(
                "{} depends on {}",
                term(package, package_range),
                term(dependency, range)
            ),
        }
    }

    fn format_terms(&self, terms: &Map<Pkg, Term<VersionRange>>) -> String {
        let terms: Vec<_> = terms.iter().collect();
        match terms.as_slice() {
            [] | [(Pkg::Root, Term::Positive(_))] => "your requirements cannot be satisfied".into(),
            [(package, Term::Positive(range))] => {
                format!("{} cannot be used", term(package, range))
            }
            [(package, Term::Negative(range))] => format!("{} is required", term(package, range)),
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => self.format_external(
                &External::FromDependencyOf((*p1).clone(), r1.clone(), (*p2).clone(), r2.clone()),
            ),
            slice => {
                let terms: Vec<String> = slice
                    .iter()
                    .map(|(package, t)| match t {
                        Term::Positive(range) => term(package, range),
                        Term::Negative(range) => format!("not {}", term(package, range)),
                    })
                    .collect();
                format!("{} cannot be used together", terms.join(" and "))
            }
        }
    }

    fn explain_both_external(
        &self,
        external1: &External<Pkg, VersionRange, Unavailable>,
        external2: &External<Pkg, VersionRange, Unavailable>,
        current_terms: &Map<Pkg, Term<VersionRange>>,
    ) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(external1),
            self.format_external(external2),
            self.format_terms(current_terms)
        )
    }

    fn explain_both_ref(
        &self,
        ref_id1: usize,
        derived1: &Derived<Pkg, VersionRange, Unavailable>,
        ref_id2: usize,
        derived2: &Derived<Pkg, VersionRange, Unavailable>,
        current_terms: &Map<Pkg, Term<VersionRange>>,
    ) -> String {
        format!(
            "Because {} ({ref_id1}) and {} ({ref_id2}), {}.",
            self.format_terms(&derived1.terms),
            self.format_terms(&derived2.terms),
            self.format_terms(current_terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, VersionRange, Unavailable>,
        external: &External<Pkg, VersionRange, Unavailable>,
        current_terms: &Map<Pkg, Term<VersionRange>>,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.format_terms(&derived.terms),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_external(
        &self,
        external: &External<Pkg, VersionRange, Unavailable>,
        current_terms: &Map<Pkg, Term<VersionRange>>,
    ) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, VersionRange, Unavailable>,
        current_terms: &Map<Pkg, Term<VersionRange>>,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.format_terms(&derived.terms),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior_external: &External<Pkg, VersionRange, Unavailable>,
        external: &External<Pkg, VersionRange, Unavailable>,
        current_terms: &Map<Pkg, Term<VersionRange>>,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior_external),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }
}
