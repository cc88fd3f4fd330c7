//! Where the index URL comes from, with HOME, XDG and pip's variables pointed at temporary
//! directories so that the real user configuration is never read.

use std::collections::HashMap;
use std::path::Path;

use safevenv_index::{IndexUrlError, IndexUrlSource, IndexUrls};

struct Sandbox {
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut vars = HashMap::new();
        let path = |sub: &str| dir.path().join(sub).to_str().unwrap().to_string();
        vars.insert("HOME".to_string(), path("home"));
        vars.insert("XDG_CONFIG_HOME".to_string(), path("home/.config"));
        vars.insert("XDG_CONFIG_DIRS".to_string(), path("xdg"));
        Self { dir, vars }
    }

    fn set(&mut self, key: &str, value: &str) {
        self.vars.insert(key.to_string(), value.to_string());
    }

    fn write(&self, relative: &str, url: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(relative);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, format!("[global]\nindex-url = {url}\n")).unwrap();
        path
    }

    fn resolve(
        &self,
        cli: Option<&str>,
        interpreter: Option<&str>,
    ) -> Result<IndexUrls, IndexUrlError> {
        IndexUrls::from_environment(cli, &[], interpreter, |key| self.vars.get(key).cloned())
    }

    fn chosen(&self, cli: Option<&str>, interpreter: Option<&str>) -> (String, IndexUrlSource) {
        let urls = self.resolve(cli, interpreter).unwrap();
        (urls.index.url_for_lockfile().to_string(), urls.source)
    }
}

#[test]
fn precedence_cli_then_env_then_config_then_interpreter() {
    let mut sandbox = Sandbox::new();
    // /etc/pip.conf may exist on the machine; PIP_CONFIG_FILE=/dev/null keeps it out here.
    sandbox.set("PIP_CONFIG_FILE", "/dev/null");
    sandbox.write("home/.config/pip/pip.conf", "http://user.example/simple/");
    assert_eq!(
        sandbox.chosen(None, Some("http://interp.example/simple/")),
        (
            "http://interp.example/simple/".to_string(),
            IndexUrlSource::Interpreter
        )
    );
    let error = sandbox.resolve(None, None).unwrap_err();
    assert!(matches!(error, IndexUrlError::NoIndex));
    let message = error.to_string();
    assert!(
        message.contains("--index-url") && message.contains("SAFEVENV_INDEX_URL"),
        "{message}"
    );
    assert!(
        message.contains("pip config set global.index-url"),
        "{message}"
    );

    sandbox.vars.remove("PIP_CONFIG_FILE");
    let user = sandbox.dir.path().join("home/.config/pip/pip.conf");
    assert_eq!(
        sandbox.chosen(None, Some("http://interp.example/simple/")),
        (
            "http://user.example/simple/".to_string(),
            IndexUrlSource::PipConfig(user)
        )
    );
    sandbox.set("PIP_INDEX_URL", "http://pipenv.example/simple");
    assert_eq!(sandbox.chosen(None, None).1, IndexUrlSource::PipEnv);
    sandbox.set("SAFEVENV_INDEX_URL", "http://safevenv.example/simple/");
    assert_eq!(
        sandbox.chosen(None, None),
        (
            "http://safevenv.example/simple/".to_string(),
            IndexUrlSource::SafevenvEnv
        )
    );
    assert_eq!(
        sandbox.chosen(Some("http://cli.example/simple/"), None),
        (
            "http://cli.example/simple/".to_string(),
            IndexUrlSource::CommandLine
        )
    );
}

#[test]
fn later_config_files_override_earlier_ones() {
    let mut sandbox = Sandbox::new();
    let global = sandbox.write("xdg/pip/pip.conf", "http://global.example/simple/");
    assert_eq!(
        sandbox.chosen(None, None).1,
        IndexUrlSource::PipConfig(global)
    );
    let legacy = sandbox.write("home/.pip/pip.conf", "http://legacy.example/simple/");
    assert_eq!(
        sandbox.chosen(None, None).1,
        IndexUrlSource::PipConfig(legacy)
    );
    let user = sandbox.write("home/.config/pip/pip.conf", "http://user.example/simple/");
    assert_eq!(
        sandbox.chosen(None, None).1,
        IndexUrlSource::PipConfig(user)
    );
    let venv = sandbox.dir.path().join("venv");
    sandbox.set("VIRTUAL_ENV", venv.to_str().unwrap());
    let site = sandbox.write("venv/pip.conf", "http://site.example/simple/");
    assert_eq!(
        sandbox.chosen(None, None).1,
        IndexUrlSource::PipConfig(site)
    );
    let env_file = sandbox.write("custom.conf", "http://custom.example/simple/");
    sandbox.set("PIP_CONFIG_FILE", env_file.to_str().unwrap());
    assert_eq!(
        sandbox.chosen(None, None),
        (
            "http://custom.example/simple/".to_string(),
            IndexUrlSource::PipConfig(env_file)
        )
    );
}

#[test]
fn install_section_wins_and_bad_urls_name_their_source() {
    let mut sandbox = Sandbox::new();
    let path = sandbox.dir.path().join("pip.conf");
    fs_err::write(
        &path,
        "[global]\nindex-url = http://global.example/simple/\n[install]\nindex_url = http://install.example/simple/\n",
    )
    .unwrap();
    sandbox.set("PIP_CONFIG_FILE", path.to_str().unwrap());
    assert_eq!(
        sandbox.chosen(None, None).0,
        "http://install.example/simple/"
    );

    sandbox.set("SAFEVENV_INDEX_URL", "ftp://user:pw@mirror.example/simple/");
    let error = sandbox.resolve(None, None).unwrap_err();
    assert!(error.to_string().contains("SAFEVENV_INDEX_URL"), "{error}");
    let chain = format!("{error:?}");
    assert!(!chain.contains(":pw@"), "{chain}");
    assert!(Path::new(&path).exists());
}

#[test]
fn extra_indexes_are_kept_in_order() {
    let sandbox = Sandbox::new();
    let urls = IndexUrls::from_environment(
        Some("http://a.example/simple/"),
        &["http://b.example/simple".to_string()],
        None,
        |key| sandbox.vars.get(key).cloned(),
    )
    .unwrap();
    let all: Vec<String> = urls.iter().map(ToString::to_string).collect();
    assert_eq!(
        all,
        ["http://a.example/simple/", "http://b.example/simple/"]
    );
}
