//! PEP 708: when the pages of one name on two indexes are one project.
//!
//! Security (dependency confusion): a name served by two configured indexes is two projects
//! unless the indexes say otherwise, because anyone may register a private project's name on an
//! index with open registration. PEP 708 gives two ways to say otherwise, and trusts each only
//! as far as its author deserves:
//!
//! - `meta.tracks` is set by an index's operator, whom the user trusted by configuring the
//!   index: a page that tracks the other index's page of the name extends that project, and one
//!   declaration suffices (the tracked index may not know it is mirrored).
//! - `alternate-locations` is set by a project's owner, who may be the squatter: it counts only
//!   when both pages list each other ("there MUST be agreement between all locations"); a page
//!   implicitly lists itself.

use url::Url;

use crate::simple::ProjectPage;

/// Whether `a` and `b`, pages of one name on two indexes, are declared one project: one tracks
/// the other, both track the same page, or each lists the other in `alternate-locations`.
pub(crate) fn one_project(a: &ProjectPage, b: &ProjectPage) -> bool {
    let tracks =
        |from: &ProjectPage, to: &ProjectPage| from.tracks.iter().any(|link| names_page(link, to));
    let lists = |from: &ProjectPage, to: &ProjectPage| {
        from.alternate_locations
            .iter()
            .any(|link| names_page(link, to))
    };
    let common_owner = a
        .tracks
        .iter()
        .any(|owner| b.tracks.iter().any(|other| same_page(owner, other)));
    tracks(a, b) || tracks(b, a) || common_owner || (lists(a, b) && lists(b, a))
}

/// Whether `link` names `page`: its index's project URL for the name, or the URL it was
/// fetched from (after redirects).
fn names_page(link: &Url, page: &ProjectPage) -> bool {
    same_page(link, &page.index.project_url(&page.name)) || same_page(link, &page.url)
}

/// Two page URLs are the same page when scheme, host, port and path agree, a trailing slash
/// aside; credentials, query and fragment are not part of a page's identity.
fn same_page(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use uv_normalize::PackageName;
    use uv_redacted::DisplaySafeUrl;

    use super::*;
    use crate::index_url::IndexUrl;

    const PUBLIC: &str = "https://public.example/simple/";
    const PRIVATE: &str = "https://private.example/simple/";
    const MIRROR: &str = "https://mirror.example/pkgs/";

    fn page(index: &str, tracks: &[&str], alternate: &[&str]) -> ProjectPage {
        let index = IndexUrl::parse(index).unwrap();
        let name = PackageName::from_str("internal-lib").unwrap();
        let urls = |links: &[&str]| links.iter().map(|link| Url::parse(link).unwrap()).collect();
        ProjectPage {
            url: index.project_url(&name),
            name,
            index,
            api_version: Some("1.2".to_string()),
            files: Vec::new(),
            tracks: urls(tracks),
            alternate_locations: urls(alternate),
        }
    }

    fn at(index: &str) -> String {
        format!("{index}internal-lib/")
    }

    #[test]
    fn undeclared_pages_of_one_name_are_two_projects() {
        assert!(!one_project(
            &page(PUBLIC, &[], &[]),
            &page(PRIVATE, &[], &[])
        ));
    }

    #[test]
    fn a_tracking_operator_declaration_links_either_way_round() {
        let mirror = page(MIRROR, &[&at(PUBLIC)], &[]);
        let public = page(PUBLIC, &[], &[]);
        assert!(one_project(&mirror, &public));
        assert!(one_project(&public, &mirror));
        // Without the trailing slash, and by another host spelling, it is the same page.
        let mirror = page(
            MIRROR,
            &["https://PUBLIC.example:443/simple/internal-lib"],
            &[],
        );
        assert!(one_project(&public, &mirror));
    }

    #[test]
    fn tracking_another_page_links_nothing() {
        let public = page(PUBLIC, &[], &[]);
        for tracked in [
            // Another project on the same index.
            format!("{PUBLIC}other-lib/"),
            // The index itself rather than the project's page.
            PUBLIC.to_string(),
            // A third index, not the one configured.
            at("https://elsewhere.example/simple/"),
            // Another scheme or port is another origin.
            at("http://public.example/simple/"),
            at("https://public.example:8443/simple/"),
        ] {
            let mirror = page(MIRROR, &[&tracked], &[]);
            assert!(!one_project(&mirror, &public), "{tracked}");
        }
    }

    #[test]
    fn two_mirrors_of_one_owner_are_one_project() {
        let first = page(MIRROR, &[&at(PUBLIC)], &[]);
        let second = page(PRIVATE, &[&at(PUBLIC)], &[]);
        assert!(one_project(&first, &second));
        let elsewhere = page(PRIVATE, &[&at("https://elsewhere.example/simple/")], &[]);
        assert!(!one_project(&first, &elsewhere));
    }

    #[test]
    fn alternate_locations_count_only_when_both_pages_agree() {
        let public_lists = page(PUBLIC, &[], &[&at(PRIVATE)]);
        let private_lists = page(PRIVATE, &[], &[&at(PUBLIC)]);
        let public_silent = page(PUBLIC, &[], &[]);
        let private_silent = page(PRIVATE, &[], &[]);
        assert!(one_project(&public_lists, &private_lists));
        assert!(one_project(&private_lists, &public_lists));
        // A squatter's page claiming the private project is refused without the private
        // index's word, and the other way round.
        assert!(!one_project(&public_lists, &private_silent));
        assert!(!one_project(&public_silent, &private_lists));
        // A list naming only itself and a third place does not name the other index.
        let public_elsewhere = page(PUBLIC, &[], &[&at(PUBLIC), &at(MIRROR)]);
        assert!(!one_project(&public_elsewhere, &private_lists));
    }

    #[test]
    fn the_url_a_page_was_fetched_from_names_it_too() {
        let mut public = page(PUBLIC, &[], &[]);
        public.url =
            DisplaySafeUrl::parse("https://cdn.public.example/simple/internal-lib/").unwrap();
        let mirror = page(
            MIRROR,
            &["https://cdn.public.example/simple/internal-lib/"],
            &[],
        );
        assert!(one_project(&mirror, &public));
    }
}
