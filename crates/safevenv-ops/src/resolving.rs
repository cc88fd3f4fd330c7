//! Resolution as a person watches it: the resolver's questions to the index, counted on a
//! spinner while it works.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use safevenv_progress::{Phase, Progress};
use safevenv_resolver::{DistMetadata, PackageSource, ProjectVersions, SourceError};
use uv_normalize::PackageName;
use uv_pep440::Version;

/// A [`PackageSource`] that counts the projects and distributions the resolver asks about and
/// shows the counts on a `Resolving` spinner. It answers exactly what the source it wraps
/// answers: counting changes no decision.
pub(crate) struct Watched<S> {
    source: S,
    phase: Phase,
    projects: AtomicUsize,
    metadata: AtomicUsize,
}

impl<S: PackageSource> Watched<S> {
    /// Wraps `source`; `requirements` is how many requirements the resolution starts from.
    pub(crate) fn new(source: S, progress: Progress, requirements: usize) -> Self {
        Self {
            source,
            phase: progress.phase("Resolving", format!("{requirements} requirements")),
            projects: AtomicUsize::new(0),
            metadata: AtomicUsize::new(0),
        }
    }

    fn show(&self) {
        let projects = self.projects.load(Ordering::Relaxed);
        let metadata = self.metadata.load(Ordering::Relaxed);
        self.phase
            .set_message(format!("{projects} projects, {metadata} metadata read"));
    }
}

impl<S: PackageSource> PackageSource for Watched<S> {
    fn versions(&self, name: &PackageName) -> Result<Arc<ProjectVersions>, SourceError> {
        let answer = self.source.versions(name);
        self.projects.fetch_add(1, Ordering::Relaxed);
        self.show();
        answer
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<DistMetadata>, SourceError> {
        let answer = self.source.metadata(name, version);
        self.metadata.fetch_add(1, Ordering::Relaxed);
        self.show();
        answer
    }

    fn prefetch_versions(&self, names: &[PackageName]) {
        self.source.prefetch_versions(names);
    }

    fn prefetch_metadata(&self, wanted: &[(PackageName, Version)]) {
        self.source.prefetch_metadata(wanted);
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use safevenv_resolver::InMemorySource;

    use super::*;

    /// The resolver asks the same source questions through the wrapper; both answers match and
    /// each question is counted once.
    #[test]
    fn the_watched_source_answers_as_its_source_and_counts_each_question() {
        let name = PackageName::from_str("a").unwrap();
        let version = Version::from_str("1.0").unwrap();
        let mut source = InMemorySource::new("http://127.0.0.1/simple");
        source.add(
            name.clone(),
            version.clone(),
            DistMetadata {
                requires_dist: Vec::new(),
                requires_python: None,
                provides_extra: Vec::new(),
            },
            Vec::new(),
        );
        let expected_versions = source.versions(&name).unwrap();
        let watched = Watched::new(source, Progress::hidden(), 1);
        assert_eq!(watched.versions(&name).unwrap(), expected_versions);
        assert!(watched.metadata(&name, &version).is_ok());
        let missing = PackageName::from_str("missing").unwrap();
        assert!(matches!(
            watched.versions(&missing),
            Err(SourceError::NotFound { .. })
        ));
        assert_eq!(watched.projects.load(Ordering::Relaxed), 2);
        assert_eq!(watched.metadata.load(Ordering::Relaxed), 1);
    }
}
