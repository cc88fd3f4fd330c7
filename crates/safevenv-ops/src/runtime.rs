//! The async runtime the network stages run on.

use std::ops::Deref;

use tokio::runtime::Runtime;

use crate::error::OpsError;

/// A multi-threaded runtime: the resolver blocks the calling thread while fetches run on the
/// runtime's workers, so the caller must not be one of them.
pub(crate) fn network_runtime() -> Result<NetworkRuntime, OpsError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("safevenv-net")
        .build()
        .map(|runtime| NetworkRuntime(Some(runtime)))
        .map_err(|source| OpsError::Runtime { source })
}

/// The network runtime, which does not wait for its blocking threads when dropped.
///
/// Dropping a tokio runtime waits for every blocking task still running, and the connection
/// pool may have one left that nothing awaits any more: a name lookup for a connection no
/// request needs, which a resolver can hold for its whole timeout. Everything the run needed has
/// been awaited by then, and cache writes are atomic (temporary file, then rename), so one cut
/// short by the process exiting leaves nothing behind.
#[derive(Debug)]
pub(crate) struct NetworkRuntime(Option<Runtime>);

impl Deref for NetworkRuntime {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        // `None` only inside `drop`.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("the runtime is taken only on drop"))
    }
}

impl Drop for NetworkRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
