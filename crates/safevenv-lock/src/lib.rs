//! PEP 751 lockfiles (`pylock.toml`): a typed model, a reader that refuses any lockfile
//! breaking the specification's rules (naming the field at fault), and a deterministic writer.
//!
//! What is read and written, and the compatibility promise, are in `docs/lockfile.md`.
//!
//! ```
//! use safevenv_lock::{Lock, Package, Wheel};
//!
//! let mut lock = Lock::new("safevenv");
//! let mut package = Package::from_index(
//!     "attrs".parse().unwrap(),
//!     "25.1.0".parse().unwrap(),
//!     "https://index.example/simple/".parse().unwrap(),
//! );
//! package.push_wheel(Wheel::from_url(
//!     "https://files.index.example/attrs-25.1.0-py3-none-any.whl".parse().unwrap(),
//!     Some(63152),
//!     Some("2025-01-25T11:30:10.164985Z".parse().unwrap()),
//!     "c75a69e28a550a7e93789579c22aa26b0f5b83b75dc4e08fe092980051e1090a",
//! ));
//! lock.packages.push(package);
//! lock.validate("example")?;
//!
//! let text = lock.to_toml_string();
//! assert_eq!(Lock::from_toml_str(&text, "pylock.toml")?, lock);
//! # Ok::<(), safevenv_lock::LockError>(())
//! ```

mod error;
mod model;
mod read;
mod write;

pub use error::{LockError, Violation};
pub use model::{
    Archive, AttestationIdentity, Dependency, Directory, Hashes, LOCK_VERSION, Lock, Package,
    Sdist, Source, Vcs, Wheel,
};
pub use read::Parsed;
