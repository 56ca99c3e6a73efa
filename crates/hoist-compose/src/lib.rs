//! Single-host deploy with Docker Compose: exact images, a health gate, automatic
//! rollback, a deploy history, a lock, and pruning that only touches hoist's own images.
//!
//! The crate knows nothing about registries or image layouts: the CLI resolves a release
//! to images (service → `repo:tag` + digest) and says where they come from ([`Source`]);
//! this crate brings them into the engine, pins them in an override file it owns, and
//! drives the user's compose (`docker compose` v2 or `docker-compose` v1).

pub mod cli;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod health;
pub mod history_file;
pub mod lock;
pub mod pins;
pub mod remote;
pub mod state;

pub use cli::ComposeCli;
pub use deploy::{Deployer, Done, Options, PROJECT_LABEL, Plan, ReleaseImages, Source, StateSync, Target, Wanted};
pub use engine::Docker;
pub use error::ComposeError;
pub use health::ProbeSpec;
pub use lock::{Lock, Owner};
pub use state::{Acquired, Action, History, Pin, Record, RunResult};
