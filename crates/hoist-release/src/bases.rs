//! The release side of base images from registries: before images are built, every base
//! that is a registry reference (not a ref of the local layout) is resolved into the layout
//! for each wanted platform, pinned in `hoist.lock`, and the image plans are pointed at its
//! normalised name. A base the lock has is used at exactly the locked digest (no tag
//! lookup; offline when the layout holds its manifests and configs); `update` re-resolves
//! the tags and moves the pins. A local-layout ref (`shop-jre:17`, imported) is left alone.

use std::collections::BTreeMap;

use hoist_config::{Config, LockedBase, Lockfile, StatePath};
use hoist_diag::Report;
use hoist_oci::{ImagePlan, Layout, Platform};
use hoist_registry::base::{BaseError, BaseRef};
use hoist_registry::{Auth, Client, Options};
use serde::{Deserialize, Serialize};

use crate::report::Reporter;

/// How bases are resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaseOptions {
    /// Re-resolve the tags and move the pins (`hoist image update-base`, `--update-base`).
    pub update: bool,
}

/// What happened to a base's pin in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PinChange {
    /// Used as hoist.lock pins it.
    Locked,
    /// It was not in hoist.lock: its tag was resolved now and the pin written.
    Pinned,
    /// `update-base` moved the pin to what the tag points to now.
    Moved,
    /// `update-base` found the tag where the pin already was.
    Unchanged,
    /// The reference carries its own digest: nothing to lock.
    Digest,
}

/// One registry base of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BasePin {
    /// As hoist.toml (or a Dockerfile's FROM) writes it.
    pub reference: String,
    /// Normalised (`docker.io/library/eclipse-temurin:17`): the lock key and the layout ref.
    pub name: String,
    pub digest: String,
    pub media_type: String,
    /// Platform → the digest of its image manifest.
    pub platforms: BTreeMap<String, String>,
    pub change: PinChange,
    /// The digest hoist.lock had before (for `moved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Manifests and configs fetched from the registry (0: all from the layout).
    pub fetched: usize,
}

/// The platforms images are built for: `[image] platforms`, or linux/amd64.
pub fn platforms(config: &Config) -> Result<Vec<Platform>, Report> {
    if config.image.platforms.is_empty() {
        return Ok(vec![Platform::default_target()]);
    }
    config
        .image
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>().map_err(|e| Report::user(e).with_hint("fix `[image] platforms` in hoist.toml")))
        .collect()
}

/// Resolve the registry bases of `plans` (see the module doc), point the plans at their
/// layout refs, and write hoist.lock when a pin was added or moved.
pub fn prepare(
    config: &Config,
    plans: &mut [ImagePlan],
    options: BaseOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<BasePin>, Report> {
    let written: Vec<String> = plans.iter().filter_map(|p| p.base.clone()).collect();
    let pins = pin(config, &written, options, reporter)?;
    for p in plans.iter_mut() {
        if let Some(pin) = pins.iter().find(|pin| p.base.as_deref() == Some(pin.reference.as_str())) {
            p.base = Some(pin.name.clone());
        }
    }
    Ok(pins)
}

/// Every base hoist.toml names: `[image] base`, the services' own, and the `FROM` of their
/// Dockerfiles (the first one; `scratch` and `${ARG}` bases left out).
pub fn configured(config: &Config) -> Vec<String> {
    let mut out: Vec<String> = config.image.base.iter().cloned().collect();
    for svc in config.services.values() {
        match &svc.image.dockerfile {
            Some(df) => {
                let text = std::fs::read_to_string(config.root.join(df)).unwrap_or_default();
                let from = text.lines().map(str::trim).find_map(|l| {
                    let (word, rest) = l.split_once(char::is_whitespace)?;
                    word.eq_ignore_ascii_case("FROM")
                        .then(|| rest.split_whitespace().find(|w| !w.starts_with("--")).unwrap_or_default().to_string())
                });
                out.extend(from.filter(|f| !f.is_empty() && f != "scratch" && !f.contains('$')));
            }
            None => out.extend(svc.image.base.clone()),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Resolve and pin the registry references among `references`; local-layout refs are
/// skipped. Writes hoist.lock when an entry was added or moved.
pub fn pin(
    config: &Config,
    references: &[String],
    options: BaseOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<BasePin>, Report> {
    let mut written = references.to_vec();
    written.sort();
    written.dedup();
    if written.is_empty() {
        return Ok(Vec::new());
    }
    let layout = Layout::create_or_open(&StatePath::Layout.path(config))?;
    let platforms = platforms(config)?;
    let mut lock = Lockfile::read(&config.root)?.unwrap_or_default();
    let before = lock.clone();
    let mut pins = Vec::new();
    let mut runtime = None;
    for reference in written {
        if hoist_oci::layout::registry_host(&reference).is_none() && layout.resolve(&reference).is_ok() {
            continue; // imported or built locally: today's behaviour, not locked
        }
        let pin = resolve_one(config, &layout, &lock, &reference, &platforms, options, &mut runtime)?;
        match pin.change {
            PinChange::Pinned => reporter.say(&format!("pinned {} to {}; commit hoist.lock", pin.name, pin.digest)),
            PinChange::Moved => reporter.say(&format!(
                "moved {}: {} → {}; commit hoist.lock",
                pin.name,
                pin.previous.as_deref().unwrap_or("?"),
                pin.digest
            )),
            PinChange::Unchanged => reporter.say(&format!("{} is still {}", pin.name, pin.digest)),
            PinChange::Locked | PinChange::Digest => {
                reporter.detail(&format!("base {} at {} ({} fetched)", pin.name, pin.digest, pin.fetched))
            }
        }
        if pin.change != PinChange::Digest {
            let mut platforms = lock.get(&pin.name).map(|b| b.platforms.clone()).unwrap_or_default();
            if pin.change == PinChange::Moved {
                platforms.clear();
            }
            platforms.extend(pin.platforms.clone());
            lock.upsert(LockedBase {
                name: pin.name.clone(),
                digest: pin.digest.clone(),
                media_type: pin.media_type.clone(),
                platforms,
            });
        }
        pins.push(pin);
    }
    if lock != before {
        lock.write(&config.root)?;
    }
    Ok(pins)
}

fn resolve_one(
    config: &Config,
    layout: &Layout,
    lock: &Lockfile,
    reference: &str,
    platforms: &[Platform],
    options: BaseOptions,
    runtime: &mut Option<tokio::runtime::Runtime>,
) -> Result<BasePin, Report> {
    let local = hoist_oci::layout::registry_host(reference).is_none();
    let not_local = |e: Report| {
        if !local {
            return e;
        }
        let known: Vec<String> = layout.refs().unwrap_or_default().into_iter().map(|(n, _)| n).collect();
        e.context(format!(
            "the base `{reference}` is not in the local layout {} (it has: {}), so hoist looked for it on a registry",
            layout.dir().display(),
            if known.is_empty() { "nothing".to_string() } else { known.join(", ") }
        ))
        .with_hint(format!(
            "import a local base with `hoist image import DIR --ref {reference}`, or write the registry reference of an image that exists (e.g. `eclipse-temurin:17-jre`)"
        ))
    };
    let base = BaseRef::parse(reference).map_err(|e| not_local(Report::from(BaseError::from(e))))?;
    let name = base.name();
    let entry = lock.get(&name);
    let (pinned, change) = match (&base.digest, entry) {
        (Some(d), _) => (Some(d.clone()), PinChange::Digest),
        (None, Some(e)) if !options.update => (Some(e.digest.clone()), PinChange::Locked),
        (None, Some(_)) => (None, PinChange::Moved),
        (None, None) => (None, PinChange::Pinned),
    };
    let client = base_client(config, &base)?;
    if runtime.is_none() {
        *runtime = Some(crate::runtime()?);
    }
    let rt = runtime.as_ref().expect("just made");
    let lock_pin = (change == PinChange::Locked).then_some(pinned.as_deref()).flatten();
    let resolved = rt
        .block_on(hoist_registry::base::resolve(&client, layout, &base, platforms, lock_pin))
        .map_err(|e| not_local(Report::from(e)))?;
    let previous = entry.map(|e| e.digest.clone());
    let change = match change {
        PinChange::Moved if previous.as_deref() == Some(resolved.digest.as_str()) => PinChange::Unchanged,
        c => c,
    };
    if let (PinChange::Locked, Some(e)) = (change, entry) {
        // The lock's per-platform digests are what the pinned index says; a different one
        // means hoist.lock was edited by hand or the registry serves something else.
        for (p, d) in &resolved.platforms {
            if let Some(locked) = e.platforms.get(p).filter(|l| *l != d) {
                return Err(Report::user(format!(
                    "hoist.lock pins {name} for {p} to {locked}, but its index {} lists {d}",
                    e.digest
                ))
                .with_hint("run `hoist image update-base` to pin it again, and commit hoist.lock"));
            }
        }
    }
    Ok(BasePin {
        reference: reference.to_string(),
        name: resolved.name,
        digest: resolved.digest,
        media_type: resolved.media_type,
        platforms: resolved.platforms,
        change,
        previous: if change == PinChange::Moved { previous } else { None },
        fetched: resolved.fetched,
    })
}

/// A client for the base's repository, with the push's credential chain: config.json and
/// its helpers for the base's host; `HOIST_REGISTRY_USERNAME`/`PASSWORD` only when the base
/// is on the `[registry]` host itself (CI's secrets for the push registry never go to
/// Docker Hub or anyone else).
fn base_client(config: &Config, base: &BaseRef) -> Result<Client, Report> {
    let push_host = crate::registry::push_host(config);
    let auth = Auth::resolve_for_base(base.api_host(), push_host.as_deref())?;
    Ok(Client::new(base.repository(), auth, Options::from_env()?)?)
}
