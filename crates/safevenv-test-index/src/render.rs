//! The simple repository API pages: PEP 503 HTML and PEP 691 JSON, chosen from `Accept`.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use crate::files::Entry;

/// PEP 691's JSON media type.
pub(crate) const JSON_V1: &str = "application/vnd.pypi.simple.v1+json";
/// PEP 691's HTML media type.
pub(crate) const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";
/// The API version both formats announce (1.1 brings PEP 700's `versions`, `size`, `upload-time`).
const API_VERSION: &str = "1.1";

/// Characters escaped in URL paths: everything that would end or confuse a path segment.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'/')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Percent-encodes one path segment (a file or project name).
pub(crate) fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

/// The format a response is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    /// HTML, labelled with the PEP 691 media type when the client asked for that one.
    Html {
        v1_media_type: bool,
    },
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Json => JSON_V1,
            Self::Html {
                v1_media_type: true,
            } => HTML_V1,
            Self::Html {
                v1_media_type: false,
            } => "text/html; charset=utf-8",
        }
    }
}

/// Picks the format from an `Accept` header; `None` means nothing acceptable (406).
///
/// JSON wins when acceptable with a q-value at least that of HTML; wildcards count as HTML,
/// the format a client that states no preference gets. With `serve_json` off, always HTML.
pub(crate) fn negotiate(accept: Option<&str>, serve_json: bool) -> Option<Format> {
    let plain_html = Some(Format::Html {
        v1_media_type: false,
    });
    // An HTML-only index (as old ones are) ignores `Accept` altogether.
    if !serve_json {
        return plain_html;
    }
    let Some(accept) = accept.filter(|value| !value.trim().is_empty()) else {
        return plain_html;
    };
    let mut json_q: f32 = 0.0;
    let mut html_q: f32 = 0.0;
    let mut v1_html_q: f32 = 0.0;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|param| param.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, value)| value.trim().parse::<f32>().unwrap_or(0.0));
        match media.as_str() {
            JSON_V1 | "application/vnd.pypi.simple.latest+json" => json_q = json_q.max(q),
            HTML_V1 | "application/vnd.pypi.simple.latest+html" => v1_html_q = v1_html_q.max(q),
            "text/html" | "text/*" | "*/*" => html_q = html_q.max(q),
            _ => {}
        }
    }
    let best_html = html_q.max(v1_html_q);
    if json_q > 0.0 && json_q >= best_html {
        Some(Format::Json)
    } else if best_html > 0.0 {
        Some(Format::Html {
            v1_media_type: v1_html_q > 0.0 && v1_html_q >= html_q,
        })
    } else {
        None
    }
}

/// Escapes text for HTML bodies and attribute values. Hand-written: five replacements do not
/// justify a dependency.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
    out
}

/// PEP 708 metadata of one project page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectMeta {
    /// `meta.tracks` (HTML `pypi:tracks`): the project pages this index's project extends.
    pub tracks: Vec<String>,
    /// `alternate-locations` (HTML `pypi:alternate-locations`): where the project's owner says
    /// it is also served.
    pub alternate_locations: Vec<String>,
}

/// The API version a page announces: 1.2 (PEP 708) when it carries PEP 708 metadata.
fn api_version(meta: Option<&ProjectMeta>) -> &'static str {
    if meta.is_some() { "1.2" } else { API_VERSION }
}

/// What a page needs to know about the index around it.
pub(crate) struct PageContext<'a> {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) base: &'a str,
    pub(crate) serve_metadata: bool,
}

impl PageContext<'_> {
    pub(crate) fn file_url(&self, filename: &str) -> String {
        format!("{}/files/{}", self.base, encode_segment(filename))
    }

    pub(crate) fn provenance_url(&self, filename: &str) -> String {
        format!("{}/provenance/{}", self.base, encode_segment(filename))
    }

    fn advertised_metadata<'e>(&self, entry: &'e Entry) -> Option<&'e str> {
        if !self.serve_metadata {
            return None;
        }
        entry.metadata.as_ref().map(|(_, hash)| hash.as_str())
    }
}

/// The project list (`/simple/`); `projects` are normalized names, sorted.
pub(crate) fn project_list(format: Format, projects: &[String]) -> String {
    match format {
        Format::Json => {
            let projects: Vec<Value> = projects
                .iter()
                .map(|name| json!({ "name": name }))
                .collect();
            json!({ "meta": { "api-version": API_VERSION }, "projects": projects }).to_string()
        }
        Format::Html { .. } => {
            let mut html = html_head("Simple index");
            for name in projects {
                html.push_str(&format!(
                    "    <a href=\"/simple/{}/\">{}</a><br/>\n",
                    escape_html(&encode_segment(name)),
                    escape_html(name)
                ));
            }
            html.push_str("  </body>\n</html>\n");
            html
        }
    }
}

/// A project's page: its files (sorted by file name) and, in JSON, its versions.
pub(crate) fn project_page(
    format: Format,
    context: &PageContext<'_>,
    project: &str,
    files: &[&Entry],
    meta: Option<&ProjectMeta>,
) -> String {
    match format {
        Format::Json => project_json(context, project, files, meta),
        Format::Html { .. } => project_html(context, project, files, meta),
    }
}

fn project_json(
    context: &PageContext<'_>,
    project: &str,
    files: &[&Entry],
    meta: Option<&ProjectMeta>,
) -> String {
    let mut versions: Vec<&str> = Vec::new();
    let files: Vec<Value> = files
        .iter()
        .map(|entry| {
            if let Some(version) = entry.version.as_deref()
                && !versions.contains(&version)
            {
                versions.push(version);
            }
            let mut file = json!({
                "filename": entry.filename,
                "url": context.file_url(&entry.filename),
                "hashes": { "sha256": entry.sha256 },
                "size": entry.bytes.len(),
                "yanked": match entry.yanked.as_deref() {
                    None => Value::Bool(false),
                    Some("") => Value::Bool(true),
                    Some(reason) => Value::String(reason.to_string()),
                },
            });
            // `file` is built above as an object, so `as_object_mut` always holds.
            if let Some(object) = file.as_object_mut() {
                if let Some(requires_python) = &entry.requires_python {
                    object.insert("requires-python".into(), json!(requires_python));
                }
                if let Some(time) = &entry.upload_time {
                    object.insert("upload-time".into(), json!(time));
                }
                if let Some(hash) = context.advertised_metadata(entry) {
                    // PEP 714 renamed the key; old clients still read the PEP 658 one.
                    object.insert("core-metadata".into(), json!({ "sha256": hash }));
                    object.insert("dist-info-metadata".into(), json!({ "sha256": hash }));
                }
                if entry.provenance.is_some() {
                    object.insert(
                        "provenance".into(),
                        json!(context.provenance_url(&entry.filename)),
                    );
                }
            }
            file
        })
        .collect();
    let mut page = json!({
        "meta": { "api-version": api_version(meta) },
        "name": project,
        "files": files,
        "versions": versions,
    });
    if let Some(meta) = meta {
        page["meta"]["tracks"] = json!(meta.tracks);
        page["alternate-locations"] = json!(meta.alternate_locations);
    }
    page.to_string()
}

fn project_html(
    context: &PageContext<'_>,
    project: &str,
    files: &[&Entry],
    meta: Option<&ProjectMeta>,
) -> String {
    let mut html = html_head_versioned(&format!("Links for {project}"), api_version(meta));
    if let Some(meta) = meta {
        let mut tags = String::new();
        for (name, links) in [
            ("pypi:tracks", &meta.tracks),
            ("pypi:alternate-locations", &meta.alternate_locations),
        ] {
            for link in links {
                tags.push_str(&format!(
                    "    <meta name=\"{name}\" content=\"{}\">\n",
                    escape_html(link)
                ));
            }
        }
        // The head ends where the body begins.
        html = html.replacen("  </head>", &format!("{tags}  </head>"), 1);
    }
    html.push_str(&format!(
        "    <h1>Links for {}</h1>\n",
        escape_html(project)
    ));
    for entry in files {
        let mut attributes = format!(
            "href=\"{}\"",
            escape_html(&format!(
                "{}#sha256={}",
                context.file_url(&entry.filename),
                entry.sha256
            ))
        );
        if let Some(requires_python) = &entry.requires_python {
            attributes.push_str(&format!(
                " data-requires-python=\"{}\"",
                escape_html(requires_python)
            ));
        }
        if let Some(reason) = &entry.yanked {
            attributes.push_str(&format!(" data-yanked=\"{}\"", escape_html(reason)));
        }
        if let Some(hash) = context.advertised_metadata(entry) {
            attributes.push_str(&format!(
                " data-core-metadata=\"sha256={hash}\" data-dist-info-metadata=\"sha256={hash}\""
            ));
        }
        if entry.provenance.is_some() {
            attributes.push_str(&format!(
                " data-provenance=\"{}\"",
                escape_html(&context.provenance_url(&entry.filename))
            ));
        }
        html.push_str(&format!(
            "    <a {attributes}>{}</a><br/>\n",
            escape_html(&entry.filename)
        ));
    }
    html.push_str("  </body>\n</html>\n");
    html
}

fn html_head(title: &str) -> String {
    html_head_versioned(title, API_VERSION)
}

fn html_head_versioned(title: &str, version: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    \
         <meta name=\"pypi:repository-version\" content=\"{version}\">\n    \
         <title>{}</title>\n  </head>\n  <body>\n",
        escape_html(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTML: Option<Format> = Some(Format::Html {
        v1_media_type: false,
    });
    const HTML_V1_FORMAT: Option<Format> = Some(Format::Html {
        v1_media_type: true,
    });

    #[test]
    fn negotiation_follows_q_values() {
        assert_eq!(negotiate(None, true), HTML);
        assert_eq!(negotiate(Some("*/*"), true), HTML);
        assert_eq!(negotiate(Some(JSON_V1), true), Some(Format::Json));
        assert_eq!(
            negotiate(
                Some(
                    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
                ),
                true
            ),
            Some(Format::Json)
        );
        assert_eq!(
            negotiate(
                Some("application/vnd.pypi.simple.v1+json;q=0.5, text/html"),
                true
            ),
            HTML
        );
        assert_eq!(
            negotiate(
                Some("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.5"),
                true
            ),
            Some(Format::Json)
        );
        assert_eq!(negotiate(Some(HTML_V1), true), HTML_V1_FORMAT);
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.v1+json;q=0"), true),
            None
        );
        assert_eq!(negotiate(Some("image/png"), true), None);
        assert_eq!(negotiate(Some(JSON_V1), false), HTML);
        assert_eq!(
            negotiate(Some(&format!("{JSON_V1}, text/html;q=0.1")), false),
            HTML
        );
    }

    #[test]
    fn html_escaping_covers_attribute_breakers() {
        assert_eq!(escape_html(r#"<"&'>"#), "&lt;&quot;&amp;&#x27;&gt;");
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("a b#c?d/e%"), "a%20b%23c%3Fd%2Fe%25");
        assert_eq!(
            encode_segment("demo-1.0+local-py3-none-any.whl"),
            "demo-1.0+local-py3-none-any.whl"
        );
    }
}
