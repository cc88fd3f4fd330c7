//! Reading a requirements file and its includes into one [`RequirementsTxt`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use url::Url;
use uv_normalize::PackageName;
use uv_redacted::DisplaySafeUrl;

use crate::error::{Failure, LineErrorKind, RequirementsError};
use crate::lines::{LogicalLine, logical_lines};
use crate::options::{LineOption, parse_options, split_requirement_and_options};
use crate::requirement::{parse_editable, parse_hash, parse_requirement};
use crate::{
    BinarySelector, Entry, FindLinks, Located, MAX_FILE_SIZE, MAX_INCLUDE_DEPTH, Origin,
    ParseOptions, RequirementsTxt,
};
use safevenv_redact::redact_text;

/// A `-r`/`-c` line, to be followed once the line is done.
struct Include {
    target: String,
    constraint: bool,
}

/// A file being read: the path as shown, and the canonical path that detects cycles.
struct OpenFile {
    shown: PathBuf,
    canonical: PathBuf,
}

pub(crate) struct Parser<'a> {
    options: &'a ParseOptions,
    result: RequirementsTxt,
    /// The chain of files being read, outermost first.
    stack: Vec<OpenFile>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(options: &'a ParseOptions) -> Self {
        Self {
            options,
            result: RequirementsTxt::default(),
            stack: Vec::new(),
        }
    }

    pub(crate) fn parse_root_file(self, path: &Path) -> Result<RequirementsTxt, RequirementsError> {
        let contents = read_file(path, None)?;
        self.parse_root_str(&contents, path)
    }

    pub(crate) fn parse_root_str(
        mut self,
        contents: &str,
        path: &Path,
    ) -> Result<RequirementsTxt, RequirementsError> {
        // The file need not exist (text from elsewhere, named for messages).
        let canonical = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.stack.push(OpenFile {
            shown: path.to_path_buf(),
            canonical,
        });
        self.parse_contents(contents, path, false)?;
        Ok(self.result)
    }

    fn parse_contents(
        &mut self,
        contents: &str,
        path: &Path,
        constraint: bool,
    ) -> Result<(), RequirementsError> {
        for line in logical_lines(contents, &self.options.environment) {
            let origin = Origin::File {
                path: path.to_path_buf(),
                line: line.number,
            };
            // Offsets index the expanded text: they are shown only if expansion changed nothing.
            let offsets_apply = line.written == line.expanded;
            let include = self
                .parse_line(&line, &origin, path, constraint)
                .map_err(|failure| failure.at(origin.clone(), &line.written, offsets_apply))?;
            if let Some(include) = include {
                self.include(&include, &line, &origin, path)?;
            }
        }
        Ok(())
    }

    /// Parse one logical line, as pip's `handle_line` does, but refusing what pip would drop
    /// silently (options that have no effect where they are given).
    fn parse_line(
        &mut self,
        line: &LogicalLine,
        origin: &Origin,
        path: &Path,
        constraint: bool,
    ) -> Result<Option<Include>, Failure> {
        let (requirement_text, options_text) = split_requirement_and_options(&line.expanded);
        let options = parse_options(options_text)?;
        let mut hashes = Vec::new();
        let mut others = Vec::new();
        for option in &options {
            match option {
                LineOption::Hash(value) => hashes.push(parse_hash(value)?),
                other => others.push(other),
            }
        }

        // (1) A requirement line: only `--hash` may follow the requirement.
        if !requirement_text.is_empty() {
            if let Some(option) = others.first() {
                return Err(LineErrorKind::OptionOnRequirementLine {
                    option: option.name().to_string(),
                }
                .into());
            }
            let requirement = parse_requirement(requirement_text, self.options)?;
            self.push_entry(requirement, hashes, origin, constraint);
            return Ok(None);
        }

        // (2) An editable requirement: `-e` alone.
        let editables: Vec<&String> = others
            .iter()
            .filter_map(|option| match option {
                LineOption::Editable(value) => Some(value),
                _ => None,
            })
            .collect();
        if let Some(value) = editables.first() {
            if editables.len() > 1 {
                return Err(LineErrorKind::MultipleEditables.into());
            }
            if let Some(option) = others
                .iter()
                .find(|option| !matches!(option, LineOption::Editable(_)))
            {
                return Err(LineErrorKind::OptionOnRequirementLine {
                    option: option.name().to_string(),
                }
                .into());
            }
            if !hashes.is_empty() {
                return Err(LineErrorKind::HashOnEditable.into());
            }
            let requirement = parse_editable(value, self.options)?;
            self.push_entry(requirement, Vec::new(), origin, constraint);
            return Ok(None);
        }

        // (3) An options line.
        if !hashes.is_empty() {
            return Err(LineErrorKind::HashWithoutRequirement.into());
        }
        let include = others.iter().find_map(|option| match option {
            LineOption::Requirement(target) => Some(Include {
                target: target.clone(),
                constraint: false,
            }),
            LineOption::Constraint(target) => Some(Include {
                target: target.clone(),
                constraint: true,
            }),
            _ => None,
        });
        if let Some(include) = include {
            if others.len() > 1 {
                return Err(LineErrorKind::IncludeNotAlone {
                    option: if include.constraint {
                        "--constraint"
                    } else {
                        "--requirement"
                    }
                    .to_string(),
                }
                .into());
            }
            return Ok(Some(include));
        }
        for option in others {
            self.apply_global(option, origin, path)?;
        }
        Ok(None)
    }

    fn push_entry(
        &mut self,
        requirement: crate::Requirement,
        hashes: Vec<crate::Hash>,
        origin: &Origin,
        constraint: bool,
    ) {
        let entry = Entry {
            requirement,
            hashes,
            origin: origin.clone(),
        };
        if constraint {
            self.result.constraints.push(entry);
        } else {
            self.result.requirements.push(entry);
        }
    }

    /// Apply an option that configures the whole installation.
    fn apply_global(
        &mut self,
        option: &LineOption,
        origin: &Origin,
        path: &Path,
    ) -> Result<(), Failure> {
        let result = &mut self.result;
        match option {
            LineOption::IndexUrl(value) => {
                let url = parse_index_url(value)?;
                // Where artifacts come from is decided by the index; pip lets a later
                // `--index-url` (say, in an included file) silently replace an earlier one,
                // which would send every unpinned requirement to another index.
                if let Some(previous) = &result.index_url {
                    if previous.value != url {
                        return Err(LineErrorKind::ConflictingIndexUrl {
                            url: url.to_string(),
                            previous_url: previous.value.to_string(),
                            previous: previous.origin.clone(),
                        }
                        .into());
                    }
                } else {
                    result.index_url = Some(located(url, origin));
                }
            }
            LineOption::ExtraIndexUrl(value) => {
                result
                    .extra_index_urls
                    .push(located(parse_index_url(value)?, origin));
            }
            LineOption::FindLinks(value) => {
                let find_links =
                    if value.contains("://") || value.to_ascii_lowercase().starts_with("file:") {
                        FindLinks::Url(parse_index_url(value)?)
                    } else {
                        // pip: relative to the requirements file when it exists there.
                        let beside = path.parent().unwrap_or(Path::new("")).join(value);
                        FindLinks::Path(if beside.exists() {
                            beside
                        } else {
                            PathBuf::from(value)
                        })
                    };
                result.find_links.push(located(find_links, origin));
            }
            LineOption::NoBinary(value) => {
                for selector in parse_binary_selectors("--no-binary", value)? {
                    result.no_binary.push(located(selector, origin));
                }
            }
            LineOption::OnlyBinary(value) => {
                for selector in parse_binary_selectors("--only-binary", value)? {
                    result.only_binary.push(located(selector, origin));
                }
            }
            LineOption::NoIndex => {
                result.no_index.get_or_insert_with(|| origin.clone());
            }
            LineOption::Pre => {
                result.pre.get_or_insert_with(|| origin.clone());
            }
            LineOption::PreferBinary => {
                result.prefer_binary.get_or_insert_with(|| origin.clone());
            }
            LineOption::RequireHashes => {
                result.require_hashes.get_or_insert_with(|| origin.clone());
            }
            LineOption::TrustedHost(host) => {
                result.trusted_hosts.push(located(host.clone(), origin));
            }
            // Sorted out by `parse_line` before global options are applied.
            LineOption::Hash(_)
            | LineOption::Editable(_)
            | LineOption::Requirement(_)
            | LineOption::Constraint(_) => {}
        }
        Ok(())
    }

    /// Read an included file, as pip does: relative to the including file's directory.
    fn include(
        &mut self,
        include: &Include,
        line: &LogicalLine,
        origin: &Origin,
        including: &Path,
    ) -> Result<(), RequirementsError> {
        let fail =
            |kind: LineErrorKind| Failure::from(kind).at(origin.clone(), &line.written, false);
        let lower = include.target.to_ascii_lowercase();
        // Remote includes are refused: a requirements file fetched at install time could
        // change between review and install, and would be fetched without any pinning.
        if lower.starts_with("http:") || lower.starts_with("https:") {
            return Err(fail(LineErrorKind::RemoteInclude {
                url: redact_text(&include.target).into_owned(),
            }));
        }
        let path = if lower.starts_with("file:") {
            let url = Url::parse(&include.target).map_err(|source| {
                fail(LineErrorKind::InvalidUrl {
                    url: redact_text(&include.target).into_owned(),
                    source,
                })
            })?;
            url.to_file_path().map_err(|()| {
                fail(LineErrorKind::InvalidFileUrl {
                    url: redact_text(&include.target).into_owned(),
                })
            })?
        } else {
            including
                .parent()
                .unwrap_or(Path::new(""))
                .join(&include.target)
        };
        // The root file is at depth 0, so the stack holds depth + 1 files.
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(fail(LineErrorKind::IncludeTooDeep {
                limit: MAX_INCLUDE_DEPTH,
            }));
        }
        let canonical = fs_err::canonicalize(&path).map_err(|source| RequirementsError::Read {
            path: path.clone(),
            included_from: Some(origin.clone()),
            source,
        })?;
        if let Some(start) = self
            .stack
            .iter()
            .position(|open| open.canonical == canonical)
        {
            let mut chain: Vec<PathBuf> = self.stack[start..]
                .iter()
                .map(|open| open.shown.clone())
                .collect();
            chain.push(path);
            return Err(fail(LineErrorKind::IncludeCycle { chain }));
        }
        let contents = read_file(&path, Some(origin))?;
        self.stack.push(OpenFile {
            shown: path.clone(),
            canonical,
        });
        self.parse_contents(&contents, &path, include.constraint)?;
        self.stack.pop();
        Ok(())
    }
}

fn located<T>(value: T, origin: &Origin) -> Located<T> {
    Located {
        value,
        origin: origin.clone(),
    }
}

fn parse_index_url(value: &str) -> Result<DisplaySafeUrl, Failure> {
    Url::parse(value)
        .map(DisplaySafeUrl::from)
        .map_err(|source| {
            LineErrorKind::InvalidUrl {
                url: redact_text(value).into_owned(),
                source,
            }
            .into()
        })
}

/// `:all:`, `:none:` or comma-separated project names, as pip's `handle_mutual_excludes`.
fn parse_binary_selectors(option: &str, value: &str) -> Result<Vec<BinarySelector>, Failure> {
    value
        .split(',')
        .map(|item| match item {
            ":all:" => Ok(BinarySelector::All),
            ":none:" => Ok(BinarySelector::None),
            name => PackageName::from_str(name)
                .map(BinarySelector::Package)
                .map_err(|err| {
                    LineErrorKind::InvalidPackageName {
                        option: option.to_string(),
                        name: name.to_string(),
                        message: err.to_string(),
                    }
                    .into()
                }),
        })
        .collect()
}

/// Read a requirements file as UTF-8 (a byte-order mark is skipped), refusing one larger than
/// [`MAX_FILE_SIZE`] without reading it whole.
fn read_file(path: &Path, included_from: Option<&Origin>) -> Result<String, RequirementsError> {
    let read_error = |source| RequirementsError::Read {
        path: path.to_path_buf(),
        included_from: included_from.cloned(),
        source,
    };
    let file = fs_err::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(RequirementsError::TooLarge {
            path: path.to_path_buf(),
            included_from: included_from.cloned(),
            limit: MAX_FILE_SIZE,
        });
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    std::str::from_utf8(text)
        .map(str::to_string)
        .map_err(|source| RequirementsError::NotUtf8 {
            path: path.to_path_buf(),
            included_from: included_from.cloned(),
            source,
        })
}
