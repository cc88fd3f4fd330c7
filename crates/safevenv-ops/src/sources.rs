//! Where each artifact about to be fetched comes from, judged before anything is fetched.
//!
//! A lockfile is input, not trust: in CI it arrives in a pull request, and whoever edits it
//! chooses each wheel's `url`, `sha256` and `size`. The hash check then proves only that the
//! server named sent the bytes named. So before a download starts:
//!
//! 1. each locked package's `index` is judged by the policy (`sources.index`), without the
//!    network: an index the policy does not allow is never asked anything, so a tampered lockfile
//!    cannot make safevenv send its names to another host;
//! 2. each locked artifact is looked up on the page of **its** index (the lockfile's, not the
//!    configured one): the cached page while fresh, asked again when it does not list the
//!    artifact as locked (a page cached before an upload must not refuse an honest lockfile);
//! 3. the policy's `sources.*` rules judge every artifact, `sources.artifact-url` with what the
//!    page said; a refusal stops the run before anything is fetched.

use futures::{StreamExt, TryStreamExt, stream};
use safevenv_index::{DisplaySafeUrl, FileEntry, IndexError, IndexUrl, IndexUrls};
use safevenv_policy::{Listing, Policy, ResolvedSet};
use url::Url;

use crate::error::OpsError;
use crate::facts;
use crate::install::Network;
use crate::plan::{Wanted, WantedSource};

/// Page lookups in flight at once (the client bounds its requests too).
const LOOKUPS_IN_FLIGHT: usize = 16;

/// The index `url` (as a lockfile records it, without credentials) as the client asks it: the
/// configured index it is, with that one's credentials, or else the URL itself.
pub(crate) fn index_for(indexes: &IndexUrls, url: &Url) -> Result<IndexUrl, OpsError> {
    let bare = |index: &IndexUrl| index.url_for_lockfile();
    let wanted = IndexUrl::parse(url.as_str()).map_err(|source| OpsError::IndexUrl { source })?;
    Ok(indexes
        .iter()
        .find(|index| bare(index) == bare(&wanted))
        .cloned()
        .unwrap_or(wanted))
}

/// Steps 1 and 2: `wanted` with [`Wanted::listing`] filled in for every index artifact that has
/// none yet (those of a lockfile).
pub(crate) fn check_locked_urls(
    network: &Network<'_>,
    policy: &Policy,
    wanted: &[&Wanted],
) -> Result<Vec<Wanted>, OpsError> {
    let configured = facts::configured_indexes(network.indexes);
    let lookups = wanted.iter().map(|wanted| async {
        let mut checked = (*wanted).clone();
        let WantedSource::Index(index) = &wanted.source else {
            return Ok::<_, OpsError>(checked);
        };
        if checked.listing.is_some() {
            return Ok(checked);
        }
        // (1): judged without the network; a refused index is not contacted.
        if !policy.allows_index(&configured, &wanted.name, index) {
            checked.listing = Some(Listing::IndexNotAllowed);
            return Ok(checked);
        }
        // (2): the page of the lockfile's index, asked again if the cached one disagrees.
        let index = index_for(network.indexes, index)?;
        let mut listing = lookup(network, &index, wanted, false).await?;
        if listing != Listing::Listed {
            listing = lookup(network, &index, wanted, true).await?;
        }
        checked.listing = Some(listing);
        Ok(checked)
    });
    network.runtime.block_on(
        stream::iter(lookups)
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect(),
    )
}

/// Step 3: the policy's source rules, on what [`check_locked_urls`] found.
pub(crate) fn judge_sources(
    network: &Network<'_>,
    policy: &Policy,
    wanted: &[Wanted],
) -> Result<(), OpsError> {
    let set = ResolvedSet {
        now: jiff::Timestamp::now(),
        python_version: None,
        indexes: facts::configured_indexes(network.indexes),
        packages: wanted.iter().map(facts::package_facts).collect(),
        installed: Vec::new(),
    };
    policy.evaluate_sources(&set).map_err(OpsError::Refused)
}

/// What the page of `wanted`'s project on `index` says of its artifact.
async fn lookup(
    network: &Network<'_>,
    index: &IndexUrl,
    wanted: &Wanted,
    revalidate: bool,
) -> Result<Listing, OpsError> {
    match network
        .client
        .index_file(index, &wanted.name, &wanted.filename, revalidate)
        .await
    {
        Ok(entry) => Ok(listing_of(entry.as_ref(), wanted)),
        // Fail closed, as a refusal naming the artifact: nothing confirms the URL.
        Err(IndexError::OfflineMiss { url }) => Ok(Listing::Unavailable {
            reason: format!("`{url}` is not in the cache, and the run is offline"),
        }),
        Err(source) => Err(OpsError::Index {
            source: Box::new(source),
        }),
    }
}

/// The page entry for the file (if any) against the locked URL and sha256.
fn listing_of(entry: Option<&FileEntry>, wanted: &Wanted) -> Listing {
    let Some(entry) = entry else {
        return Listing::NotListed;
    };
    if bare(&entry.url) != bare(&wanted.url) {
        return Listing::ListedElsewhere {
            url: bare(&entry.url),
        };
    }
    match entry.sha256() {
        Some(sha256) if !sha256.eq_ignore_ascii_case(&wanted.sha256.to_string()) => {
            Listing::OtherHash {
                sha256: sha256.to_ascii_lowercase(),
            }
        }
        _ => Listing::Listed,
    }
}

/// A URL as compared: without credentials (never written to a lockfile) nor fragment.
fn bare(url: &DisplaySafeUrl) -> Url {
    let mut url = url.without_credentials().into_owned();
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use safevenv_fetch::Sha256;
    use safevenv_index::{CoreMetadataLink, Yanked};
    use safevenv_policy::HashOrigin;
    use uv_distribution_filename::{DistFilename, WheelFilename};
    use uv_normalize::PackageName;
    use uv_pep440::Version;

    use super::*;

    const FILE: &str = "demo-1.0-py3-none-any.whl";
    const SHA: &str = "ab";

    fn sha(byte: &str) -> String {
        byte.repeat(32)
    }

    fn entry(url: &str, sha256: Option<&str>) -> FileEntry {
        let wheel = WheelFilename::from_str(FILE).unwrap();
        FileEntry {
            filename: DistFilename::WheelFilename(wheel),
            raw_filename: FILE.to_string(),
            url: DisplaySafeUrl::parse(url).unwrap(),
            hashes: sha256
                .map(|hex| BTreeMap::from([("sha256".to_string(), hex.to_string())]))
                .unwrap_or_default(),
            requires_python: None,
            yanked: Yanked::No,
            core_metadata: CoreMetadataLink::Absent,
            size: None,
            upload_time: None,
            provenance: None,
        }
    }

    fn locked(url: &str) -> Wanted {
        Wanted {
            name: PackageName::from_str("demo").unwrap(),
            version: Version::from_str("1.0").unwrap(),
            filename: FILE.to_string(),
            wheel: WheelFilename::from_str(FILE).unwrap(),
            url: DisplaySafeUrl::parse(url).unwrap(),
            sha256: Sha256::from_hex(&sha(SHA)).unwrap(),
            hash_origin: HashOrigin::Lockfile,
            size: None,
            upload_time: None,
            yanked: false,
            source: WantedSource::Index(Url::parse("https://index.example/simple/").unwrap()),
            requested: true,
            listing: None,
            also_on_indexes: Vec::new(),
            built: None,
        }
    }

    const LISTED: &str = "https://files.index.example/p/demo-1.0-py3-none-any.whl";

    #[test]
    fn the_same_url_and_sha256_is_listed_whatever_the_credentials_fragment_or_case() {
        for page in [
            LISTED.to_string(),
            format!("{LISTED}#sha256={}", sha(SHA)),
            LISTED.replace("https://", "https://user:token@"),
        ] {
            for hex in [Some(sha(SHA)), Some(sha(SHA).to_uppercase()), None] {
                let listed = entry(&page, hex.as_deref());
                assert_eq!(
                    listing_of(Some(&listed), &locked(LISTED)),
                    Listing::Listed,
                    "{page} {hex:?}"
                );
            }
        }
    }

    #[test]
    fn another_url_another_sha256_or_no_entry_is_not_listed() {
        let listed = entry(LISTED, Some(&sha(SHA)));
        for url in [
            "https://evil.example/demo-1.0-py3-none-any.whl",
            "https://files.index.example/q/demo-1.0-py3-none-any.whl",
            "https://files.index.example:444/p/demo-1.0-py3-none-any.whl",
            "http://files.index.example/p/demo-1.0-py3-none-any.whl",
            "https://files.index.example/p/demo-1.0-py3-none-any.whl?x=1",
        ] {
            assert!(
                matches!(
                    listing_of(Some(&listed), &locked(url)),
                    Listing::ListedElsewhere { .. }
                ),
                "{url}"
            );
        }
        let other = entry(LISTED, Some(&sha("cd")));
        assert_eq!(
            listing_of(Some(&other), &locked(LISTED)),
            Listing::OtherHash { sha256: sha("cd") }
        );
        assert_eq!(listing_of(None, &locked(LISTED)), Listing::NotListed);
    }
}
