//! The normal form of a distribution filename that PEP 740 subject names are compared in.

use std::str::FromStr;

use uv_distribution_filename::{
    LegacySourceDistExtension, SourceDistExtension, SourceDistFilename, WheelFilename,
};

/// The "ultranormalised" form of an artifact filename, as pypi-attestations defines it.
///
/// The project name becomes its normalised form with `_` separators, the version its normalised
/// PEP 440 form, and in a wheel each compressed tag set (`manylinux_2_17_x86_64.manylinux2014_x86_64`)
/// is sorted, so the same wheel named with its tags in another order still matches. Only wheels
/// and `.tar.gz`/`.zip` sdists are distributions PyPI attests; anything else is an error.
pub(crate) fn ultranormalize(filename: &str) -> Result<String, String> {
    if filename.ends_with(".whl") {
        let wheel = WheelFilename::from_str(filename).map_err(|err| err.to_string())?;
        let sorted = |tags: Vec<String>| {
            let mut tags = tags;
            tags.sort();
            tags.dedup();
            tags.join(".")
        };
        let python = sorted(
            wheel
                .python_tags()
                .iter()
                .map(ToString::to_string)
                .collect(),
        );
        let abi = sorted(wheel.abi_tags().iter().map(ToString::to_string).collect());
        let platform = sorted(
            wheel
                .platform_tags()
                .iter()
                .map(ToString::to_string)
                .collect(),
        );
        let build = wheel
            .build_tag()
            .map(|build| format!("-{build}"))
            .unwrap_or_default();
        Ok(format!(
            "{}-{}{build}-{python}-{abi}-{platform}.whl",
            wheel.name.as_dist_info_name(),
            wheel.version
        ))
    } else {
        let sdist = SourceDistFilename::parsed_normalized_filename(filename)
            .map_err(|err| err.to_string())?;
        match sdist.extension {
            SourceDistExtension::TarGz
            | SourceDistExtension::Legacy(LegacySourceDistExtension::Zip) => Ok(format!(
                "{}-{}.{}",
                sdist.name.as_dist_info_name(),
                sdist.version,
                sdist.extension
            )),
            other => Err(format!(
                "`.{other}` is not an sdist format PyPI accepts (`.tar.gz` or `.zip`)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ultranormalize;

    #[test]
    fn wheel_tag_sets_are_sorted() {
        assert_eq!(
            ultranormalize("spt3g-1.0-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
                .unwrap(),
            ultranormalize("spt3g-1.0-cp310-cp310-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")
                .unwrap(),
        );
    }

    #[test]
    fn names_and_versions_are_normalised() {
        assert_eq!(
            ultranormalize("Foo.Bar-1.0.0RC1-py2.py3-none-any.whl").unwrap(),
            "foo_bar-1.0.0rc1-py2.py3-none-any.whl"
        );
        assert_eq!(
            ultranormalize("foo-bar-01.0.tar.gz").unwrap(),
            "foo_bar-1.0.tar.gz"
        );
        assert_eq!(
            ultranormalize("foo-1.0-2-py3-none-any.whl").unwrap(),
            "foo-1.0-2-py3-none-any.whl"
        );
    }

    #[test]
    fn other_formats_are_refused() {
        assert!(ultranormalize("foo-1.0.tar.bz2").is_err());
        assert!(ultranormalize("foo-1.0.exe").is_err());
        assert!(ultranormalize("not-a-wheel.whl").is_err());
    }
}
