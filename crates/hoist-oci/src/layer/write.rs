//! Writing layers into the layout: the two passes (DiffID, then compress only what the
//! layout lacks), in parallel, each distinct layer once.

use std::io;
use std::path::PathBuf;

use oci_spec::image::{Descriptor, Digest};
use sha2::{Digest as _, Sha256};

use super::{BuiltLayer, Compression, HashWriter, LayerSpec, diff_id, write_tar};
use crate::error::OciError;
use crate::layout::{Layout, atomic_write, sha256_digest};

fn cache_path(layout: &Layout, compression: Compression, diff_id: &Digest) -> PathBuf {
    layout.dir().join(".hoist-cache").join(compression.cache_name()).join(diff_id.digest())
}

/// Write one layer into the layout (or find it there already).
pub fn write_layer(
    layout: &Layout,
    spec: &LayerSpec,
    epoch: u64,
    compression: Compression,
) -> Result<BuiltLayer, OciError> {
    let first = diff_id(spec, epoch)?;
    write_layer_with(layout, spec, epoch, compression, first)
}

fn write_layer_with(
    layout: &Layout,
    spec: &LayerSpec,
    epoch: u64,
    compression: Compression,
    first: Digest,
) -> Result<BuiltLayer, OciError> {
    let cache = cache_path(layout, compression, &first);
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Some((digest, size)) = text.trim().split_once(' ')
        && let (Ok(digest), Ok(size)) = (digest.parse::<Digest>(), size.parse::<u64>())
        && layout.has_blob(&digest)
        && std::fs::metadata(layout.blob_path(&digest)).is_ok_and(|m| m.len() == size)
    {
        return Ok(BuiltLayer {
            descriptor: Descriptor::new(compression.media_type(), size, digest),
            diff_id: first,
            description: spec.description.clone(),
            compressed_now: false,
            seconds: 0.0,
        });
    }
    let blob = layout.blob_writer()?;
    let blob_dir = layout.dir().join("blobs");
    let (diff, blob) = match compression {
        Compression::Gzip { level } => {
            let gz = flate2::GzBuilder::new().mtime(0).write(blob, flate2::Compression::new(level));
            let mut hw = HashWriter { inner: gz, hasher: Sha256::new(), size: 0 };
            write_tar(spec, epoch, io::BufWriter::with_capacity(1 << 16, &mut hw))?;
            let blob = hw.inner.finish().map_err(OciError::io(&blob_dir))?;
            (hw.hasher.finalize(), blob)
        }
        Compression::Zstd { level } => {
            let z = zstd::Encoder::new(blob, level).map_err(OciError::io(&blob_dir))?;
            let mut hw = HashWriter { inner: z, hasher: Sha256::new(), size: 0 };
            write_tar(spec, epoch, io::BufWriter::with_capacity(1 << 16, &mut hw))?;
            let blob = hw.inner.finish().map_err(OciError::io(&blob_dir))?;
            (hw.hasher.finalize(), blob)
        }
    };
    let second = sha256_digest(&hex::encode(diff));
    if second != first {
        return Err(OciError::Changed {
            path: PathBuf::from(&spec.description),
            what: format!("its content hashed to {first}, then to {second}"),
        });
    }
    let (digest, size) = blob.finish()?;
    if let Some(dir) = cache.parent() {
        let _ = std::fs::create_dir_all(dir);
        let _ = atomic_write(&cache, format!("{digest} {size}\n").as_bytes());
    }
    Ok(BuiltLayer {
        descriptor: Descriptor::new(compression.media_type(), size, digest),
        diff_id: second,
        description: spec.description.clone(),
        compressed_now: true,
        seconds: 0.0,
    })
}

/// Run `f` over `items` on up to `jobs` threads; results in input order.
fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    *results[i].lock().expect("no poisoning") = Some(r);
                }
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().expect("no poisoning").expect("every item ran")).collect()
}

/// Write several layers on up to `jobs` threads; results in input order.
///
/// DiffIDs are computed first (in parallel), so a layer that occurs twice (the same
/// dependencies in several services) is compressed once.
pub fn write_layers(
    layout: &Layout,
    specs: &[LayerSpec],
    epoch: u64,
    compression: Compression,
    jobs: usize,
) -> Result<Vec<BuiltLayer>, OciError> {
    let timed = |s: &LayerSpec| {
        let started = std::time::Instant::now();
        diff_id(s, epoch).map(|id| (id, started.elapsed().as_secs_f64()))
    };
    let timed_ids: Vec<(Digest, f64)> = parallel(specs, jobs, timed).into_iter().collect::<Result<_, _>>()?;
    let ids: Vec<Digest> = timed_ids.iter().map(|(id, _)| id.clone()).collect();
    let mut unique: Vec<usize> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if !unique.iter().any(|&u| &ids[u] == id) {
            unique.push(i);
        }
    }
    let write = |&i: &usize| {
        let started = std::time::Instant::now();
        write_layer_with(layout, &specs[i], epoch, compression, ids[i].clone())
            .map(|b| BuiltLayer { seconds: timed_ids[i].1 + started.elapsed().as_secs_f64(), ..b })
    };
    let built: Vec<BuiltLayer> = parallel(&unique, jobs, write).into_iter().collect::<Result<_, _>>()?;
    Ok(ids
        .iter()
        .zip(specs)
        .enumerate()
        .map(|(i, (id, spec))| {
            let b = built.iter().find(|b| &b.diff_id == id).expect("every DiffID was built");
            // A repeat of a layer already counted costs only its own hashing.
            let seconds = if unique.contains(&i) { b.seconds } else { timed_ids[i].1 };
            BuiltLayer { description: spec.description.clone(), seconds, ..b.clone() }
        })
        .collect())
}

/// The number of threads to compress with.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}
