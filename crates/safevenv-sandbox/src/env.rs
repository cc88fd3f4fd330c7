//! The environment a contained program gets: an allowlist of the inherited environment, then the
//! caller's additions, with every name that can carry a credential removed from both.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// The `PATH` when the caller gives none: the inherited one may name directories in the user's home.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Inherited variables kept as they are: locale, time zone, terminal, reproducible-build inputs.
const KEPT: &[&str] = &[
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "NO_COLOR",
    "SOURCE_DATE_EPOCH",
    // Compiler settings that C-extension builds read; they name system tools and flags.
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
];

/// `PYTHON*` variables that change how the interpreter behaves but name no path and load no code.
/// Left out on purpose: PYTHONPATH, PYTHONHOME, PYTHONSTARTUP, PYTHONUSERBASE, PYTHONPYCACHEPREFIX,
/// PYTHONBREAKPOINT (each names files outside the sandbox or code to run).
const KEPT_PYTHON: &[&str] = &[
    "PYTHONHASHSEED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "PYTHONUNBUFFERED",
    "PYTHONWARNINGS",
    "PYTHONOPTIMIZE",
    "PYTHONNOUSERSITE",
    "PYTHONFAULTHANDLER",
    "PYTHONDEVMODE",
    "PYTHONSAFEPATH",
];

/// Name fragments that mark a credential wherever they appear in a name.
const SECRET_PARTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "AUTH",
];

/// Prefixes of cloud, CI and index-client variables: their tokens, their configured index URLs with
/// credentials in them, their agent sockets.
const SECRET_PREFIXES: &[&str] = &[
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "GCP_",
    "GCLOUD_",
    "GITHUB_",
    "GH_",
    "GITLAB_",
    "CI_",
    "ACTIONS_",
    "BUILDKITE_",
    "CIRCLE_",
    "TRAVIS_",
    "JENKINS_",
    "PIP_",
    "UV_",
    "SAFEVENV_",
    "TWINE_",
    "POETRY_",
    "PDM_",
    "HATCH_",
    "CONDA_",
    "NPM_",
    "DOCKER_",
    "SSH_",
    "GPG_",
    "VAULT_",
    "KUBE",
];

/// Whole names that point at credentials or at ways out of the sandbox.
const SECRET_NAMES: &[&str] = &[
    "NETRC",
    "KRB5CCNAME",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
];

fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_PARTS.iter().any(|part| upper.contains(part))
        || SECRET_PREFIXES
            .iter()
            .any(|prefix| upper.starts_with(prefix))
        || SECRET_NAMES.contains(&upper.as_str())
}

fn is_kept(name: &str) -> bool {
    KEPT.contains(&name) || KEPT_PYTHON.contains(&name) || name.starts_with("LC_")
}

/// The environment allowlist: LANG/LC_*, TZ, TERM, SOURCE_DATE_EPOCH, compiler flags and `PYTHON*`
/// variables that name no path are kept from `inherited`; `PATH` is not inherited (it is
/// `/usr/local/bin:/usr/bin:/bin` unless `extra` sets it); then `extra` (e.g. HOME pointing at
/// scratch, TMPDIR in scratch) is added, replacing inherited values.
///
/// Invariant: no variable whose name can hold a credential reaches the build, not even through
/// `extra`: tokens (`*_TOKEN`, `*_SECRET*`, `*_PASSWORD*`, `*AUTH*`), cloud and CI variables
/// (`AWS_*`, `GITHUB_*`, ...), index clients' settings (`PIP_*`, `UV_*`, `SAFEVENV_*`, `TWINE_*`, which
/// carry index URLs with credentials), `SSH_AUTH_SOCK`, proxies. The threat is a build backend that
/// reads its environment and sends it out, or leaves it in the wheel it builds.
/// Names that are not valid UTF-8 are dropped.
pub fn scrubbed_env(
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    extra: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    for (name, value) in inherited {
        if let Some(text) = name.to_str()
            && is_kept(text)
            && !is_secret(text)
        {
            env.insert(name, value);
        }
    }
    for (name, value) in extra {
        if name
            .to_str()
            .is_some_and(|text| !is_secret(text) && !text.is_empty() && !text.contains('='))
        {
            env.insert(name, value);
        }
    }
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    /// The value of `name` in an environment built by [`scrubbed_env`].
    fn lookup<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_os_str())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn credentials_are_removed() {
        let inherited = pairs(&[
            ("GITHUB_TOKEN", "ghp_x"),
            ("GH_TOKEN", "x"),
            ("MY_SERVICE_TOKEN", "x"),
            ("DB_PASSWORD", "x"),
            ("CLIENT_SECRET_VALUE", "x"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_PROFILE", "prod"),
            ("GITHUB_ACTIONS", "true"),
            ("PIP_INDEX_URL", "https://user:pw@index.example/simple"),
            (
                "PIP_EXTRA_INDEX_URL",
                "https://user:pw@index.example/simple",
            ),
            ("UV_INDEX_URL", "https://user:pw@index.example/simple"),
            ("TWINE_PASSWORD", "x"),
            ("SAFEVENV_INDEX_URL", "https://user:pw@index.example/simple"),
            ("SSH_AUTH_SOCK", "/tmp/ssh-agent.sock"),
            ("HTTPS_PROXY", "http://user:pw@proxy.example:3128"),
            ("PYTHONPATH", "/root/project"),
            ("PYTHONSTARTUP", "/root/.pythonrc"),
            ("HOME", "/root"),
            ("PATH", "/root/.local/bin:/usr/bin"),
        ]);
        let env = scrubbed_env(
            inherited,
            pairs(&[("GITHUB_TOKEN", "x"), ("PIP_INDEX_URL", "x")]),
        );
        assert_eq!(names(&env), ["PATH"], "{env:?}");
        assert_eq!(lookup(&env, "PATH"), Some(OsStr::new(DEFAULT_PATH)));
    }

    #[test]
    fn locale_and_harmless_settings_are_kept() {
        let inherited = pairs(&[
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C.UTF-8"),
            ("TZ", "UTC"),
            ("TERM", "xterm"),
            ("SOURCE_DATE_EPOCH", "315532800"),
            ("PYTHONHASHSEED", "0"),
            ("PYTHONDONTWRITEBYTECODE", "1"),
            ("CFLAGS", "-O2"),
        ]);
        let extra = pairs(&[
            ("HOME", "/scratch/home"),
            ("TMPDIR", "/scratch/tmp"),
            ("PATH", "/env/bin:/usr/bin"),
        ]);
        let env = scrubbed_env(inherited, extra);
        assert_eq!(
            names(&env),
            [
                "CFLAGS",
                "HOME",
                "LANG",
                "LC_ALL",
                "PATH",
                "PYTHONDONTWRITEBYTECODE",
                "PYTHONHASHSEED",
                "SOURCE_DATE_EPOCH",
                "TERM",
                "TMPDIR",
                "TZ"
            ]
        );
        assert_eq!(lookup(&env, "PATH"), Some(OsStr::new("/env/bin:/usr/bin")));
        assert_eq!(lookup(&env, "HOME"), Some(OsStr::new("/scratch/home")));
    }
}
