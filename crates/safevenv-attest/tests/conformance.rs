//! The sigstore-conformance `bundle-verify` suite, run through [`verify_bundle`]: every case must
//! give its expected result (a name ending in `_fail` must be refused, any other must verify).

use std::path::{Path, PathBuf};

use safevenv_attest::{BundleSigner, TrustRoot, verify_bundle};

/// The identity and issuer of the conformance suite's signing beacon, used by every case that
/// does not name its own (the suite's `identity`/`issuer` defaults).
const BEACON_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const BEACON_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/sigstore/sigstore-conformance/bundle-verify")
}

/// A file of the case, trimmed, if the case has it.
fn optional(case: &Path, name: &str) -> Option<String> {
    let path = case.join(name);
    path.exists()
        .then(|| fs_err::read_to_string(&path).unwrap().trim().to_string())
}

/// Run one case the way the conformance client does: the case's artifact or the suite's
/// `a.txt`, its trusted root or the production one, its key, or its identity and issuer or the
/// beacon's.
fn run(case: &Path) -> Result<(), String> {
    let artifact_path = if case.join("artifact").exists() {
        case.join("artifact")
    } else {
        suite().join("a.txt")
    };
    let artifact = fs_err::read(&artifact_path).unwrap();
    let bundle = fs_err::read(case.join("bundle.sigstore.json")).unwrap();
    let root = if case.join("trusted_root.json").exists() {
        TrustRoot::from_file(&case.join("trusted_root.json"))
    } else {
        TrustRoot::production()
    }
    .map_err(|err| err.to_string())?;
    let signer = match optional(case, "key.pub") {
        Some(pem) => BundleSigner::PublicKeyPem(pem),
        None => BundleSigner::Keyless {
            identity: optional(case, "identity").unwrap_or_else(|| BEACON_IDENTITY.to_string()),
            issuer: optional(case, "issuer").unwrap_or_else(|| BEACON_ISSUER.to_string()),
        },
    };
    verify_bundle(&artifact, &bundle, &root, &signer)
        .map(|_| ())
        .map_err(|err| err.to_string())
}

#[test]
fn bundle_verify_cases_give_their_expected_result() {
    let list =
        fs_err::read_to_string(suite().join("../../conformance-case-list/bundle-verify-cases.tsv"))
            .unwrap();
    let mut cases: Vec<(String, bool)> = list
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next().unwrap().to_string();
            let pass = match fields.next() {
                Some("pass") => true,
                Some("fail") => false,
                other => panic!("case `{name}` has expectation {other:?}"),
            };
            // The list and the `_fail` naming convention must agree.
            assert_eq!(pass, !name.ends_with("_fail"), "{name}");
            (name, pass)
        })
        .collect();
    cases.sort();
    // Every case folder is in the list, and the other way round.
    let mut folders: Vec<String> = fs_err::read_dir(suite())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        cases
            .iter()
            .map(|(name, _)| name.clone())
            .collect::<Vec<_>>()
    );

    let mut disagreements = Vec::new();
    let (mut passed, mut refused) = (0, 0);
    for (name, expect_pass) in &cases {
        let outcome = run(&suite().join(name));
        match (&outcome, expect_pass) {
            (Ok(()), true) => passed += 1,
            (Err(_), false) => refused += 1,
            (Ok(()), false) => disagreements.push(format!("{name}: verified, must be refused")),
            (Err(err), true) => disagreements.push(format!("{name}: refused, must verify: {err}")),
        }
    }
    let expected_pass = cases.iter().filter(|(_, pass)| *pass).count();
    println!(
        "bundle-verify: {} cases; {passed}/{expected_pass} verified as expected, {refused}/{} \
         refused as expected, {} disagreements",
        cases.len(),
        cases.len() - expected_pass,
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "disagreements:\n{}",
        disagreements.join("\n")
    );
}
