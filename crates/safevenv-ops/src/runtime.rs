//! The async runtime the network stages run on.

use tokio::runtime::Runtime;

use crate::error::OpsError;

/// A multi-threaded runtime: the resolver blocks the calling thread while fetches run on the
/// runtime's workers, so the caller must not be one of them.
pub(crate) fn network_runtime() -> Result<Runtime, OpsError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("safevenv-net")
        .build()
        .map_err(|source| OpsError::Runtime { source })
}
