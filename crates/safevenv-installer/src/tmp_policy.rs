// TEMP until safevenv-policy lands. DELETE.
#[derive(Debug)]
pub struct PolicyApproved(pub Vec<(uv_normalize::PackageName, Option<uv_pep440::Version>)>);
impl PolicyApproved {
    pub fn packages(&self) -> &[(uv_normalize::PackageName, Option<uv_pep440::Version>)] {
        &self.0
    }
}
