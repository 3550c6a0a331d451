//! The verifying stream every blob passes through on its way from source to destination:
//! it hashes each byte once, counts bytes, reports progress, and refuses to deliver the end
//! of a blob whose size or digest is wrong. Because the last chunk is withheld on a mismatch,
//! the destination never receives a complete wrong blob (and the registry, which checks the
//! `digest` of every upload, would refuse one anyway).

use bytes::Bytes;
use futures_util::Stream;
use hangar_image::digest::Digest;
use hangar_registry::RegistryError;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What the stream learnt, read by the copier after the upload returns.
#[derive(Debug, Default)]
pub struct Verdict {
    pub error: Option<RegistryError>,
    pub verified_size: Option<u64>,
    pub diff_id: Option<Digest>,
}

/// Hashes the *uncompressed* bytes of a gzip layer (schema1 conversion needs `diff_ids`).
struct DiffIdHasher(flate2::write::GzDecoder<HashWriter>);

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct VerifyingStream<S> {
    inner: S,
    what: String,
    expected: Digest,
    expected_size: Option<u64>,
    hasher: Option<Sha256>,
    diff: Option<DiffIdHasher>,
    seen: u64,
    progress: Box<dyn Fn(u64) + Send + Sync>,
    verdict: Arc<Mutex<Verdict>>,
    finished: bool,
}

impl<S> VerifyingStream<S> {
    pub fn new(
        inner: S,
        what: String,
        expected: Digest,
        expected_size: Option<u64>,
        want_diff_id: bool,
        progress: Box<dyn Fn(u64) + Send + Sync>,
    ) -> (Self, Arc<Mutex<Verdict>>) {
        let verdict = Arc::new(Mutex::new(Verdict::default()));
        let diff = want_diff_id
            .then(|| DiffIdHasher(flate2::write::GzDecoder::new(HashWriter(Sha256::new()))));
        let stream = VerifyingStream {
            inner,
            what,
            expected,
            expected_size,
            hasher: Some(Sha256::new()),
            diff,
            seen: 0,
            progress,
            verdict: verdict.clone(),
            finished: false,
        };
        (stream, verdict)
    }

    /// Continues verifying a blob whose first `seen` bytes were already hashed into `prefix`
    /// (an entry resumed after a kill): only the rest streams through.
    pub fn resuming(mut self, prefix: Sha256, seen: u64) -> Self {
        self.hasher = Some(prefix);
        self.seen = seen;
        self
    }

    fn fail(&mut self, error: RegistryError) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        let message = error.to_string();
        self.verdict.lock().expect("verdict lock").error = Some(error);
        self.finished = true;
        Poll::Ready(Some(Err(std::io::Error::other(message))))
    }

    /// Checks size and digest once every byte has been seen.
    fn finish(&mut self) -> Result<(), RegistryError> {
        if let Some(n) = self.expected_size
            && n != self.seen
        {
            return Err(RegistryError::SizeMismatch {
                what: self.what.clone(),
                expected: n,
                actual: self.seen,
            });
        }
        let actual = Digest::from_sha256(&self.hasher.take().expect("finished once").finalize());
        if actual != self.expected {
            return Err(RegistryError::DigestMismatch {
                what: self.what.clone(),
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            });
        }
        let diff_id = match self.diff.take() {
            Some(DiffIdHasher(decoder)) => {
                let writer = decoder.finish().map_err(|e| RegistryError::Protocol {
                    what: self.what.clone(),
                    message: format!("layer is not valid gzip: {e}"),
                })?;
                Some(Digest::from_sha256(&writer.0.finalize()))
            }
            None => None,
        };
        let mut verdict = self.verdict.lock().expect("verdict lock");
        verdict.verified_size = Some(self.seen);
        verdict.diff_id = diff_id;
        Ok(())
    }
}

impl<S, E> Stream for VerifyingStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => {
                let error = RegistryError::Transfer {
                    what: self.what.clone(),
                    message: e.to_string(),
                };
                self.fail(error)
            }
            Poll::Ready(Some(Ok(chunk))) => {
                self.seen += chunk.len() as u64;
                if let Some(n) = self.expected_size
                    && self.seen > n
                {
                    let error = RegistryError::SizeMismatch {
                        what: self.what.clone(),
                        expected: n,
                        actual: self.seen,
                    };
                    return self.fail(error);
                }
                self.hasher
                    .as_mut()
                    .expect("hasher lives until finish")
                    .update(&chunk);
                if let Some(diff) = self.diff.as_mut()
                    && let Err(e) = diff.0.write_all(&chunk)
                {
                    let error = RegistryError::Protocol {
                        what: self.what.clone(),
                        message: format!("layer is not valid gzip: {e}"),
                    };
                    return self.fail(error);
                }
                (self.progress)(chunk.len() as u64);
                // Withhold the final chunk until the digest is known to be right.
                if self.expected_size == Some(self.seen) {
                    if let Err(error) = self.finish() {
                        return self.fail(error);
                    }
                    self.finished = true;
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => match self.finish() {
                Ok(()) => {
                    self.finished = true;
                    Poll::Ready(None)
                }
                Err(error) => self.fail(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    async fn drain(
        parts: &[&'static [u8]],
        digest: Digest,
        size: Option<u64>,
    ) -> (Vec<Result<Bytes, std::io::Error>>, Arc<Mutex<Verdict>>) {
        let (s, v) = VerifyingStream::new(
            chunks(parts),
            "blob".into(),
            digest,
            size,
            false,
            Box::new(|_| {}),
        );
        (s.collect().await, v)
    }

    #[tokio::test]
    async fn passes_good_bytes() {
        let (items, v) = drain(
            &[b"hello ", b"world"],
            Digest::sha256_of(b"hello world"),
            Some(11),
        )
        .await;
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i.is_ok()));
        assert_eq!(v.lock().unwrap().verified_size, Some(11));
    }

    #[tokio::test]
    async fn withholds_last_chunk_of_wrong_bytes() {
        let (items, v) = drain(
            &[b"hello ", b"WORLD"],
            Digest::sha256_of(b"hello world"),
            Some(11),
        )
        .await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(
            items[1].is_err(),
            "the final wrong chunk must never be delivered"
        );
        assert!(matches!(
            v.lock().unwrap().error,
            Some(RegistryError::DigestMismatch { .. })
        ));
    }

    #[tokio::test]
    async fn catches_truncation_and_overrun() {
        let (items, v) = drain(&[b"hello"], Digest::sha256_of(b"hello world"), Some(11)).await;
        assert!(items.last().unwrap().is_err());
        assert!(matches!(
            v.lock().unwrap().error,
            Some(RegistryError::SizeMismatch { actual: 5, .. })
        ));
        let (items, v) = drain(
            &[b"hello world!!"],
            Digest::sha256_of(b"hello world"),
            Some(11),
        )
        .await;
        assert!(items[0].is_err());
        assert!(matches!(
            v.lock().unwrap().error,
            Some(RegistryError::SizeMismatch { .. })
        ));
        // Unknown size: checked at the end.
        let (items, v) = drain(&[b"hello world"], Digest::sha256_of(b"hello"), None).await;
        assert!(items.last().unwrap().is_err());
        assert!(matches!(
            v.lock().unwrap().error,
            Some(RegistryError::DigestMismatch { .. })
        ));
    }

    #[tokio::test]
    async fn computes_diff_id_of_gzip_layers() {
        let raw = b"layer contents".repeat(100);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&raw).unwrap();
        let gz: &'static [u8] = Box::leak(enc.finish().unwrap().into_boxed_slice());
        let parts = [gz];
        let (s, v) = VerifyingStream::new(
            chunks(&parts),
            "l".into(),
            Digest::sha256_of(gz),
            None,
            true,
            Box::new(|_| {}),
        );
        let items: Vec<_> = s.collect().await;
        assert!(items.iter().all(|i| i.is_ok()));
        assert_eq!(v.lock().unwrap().diff_id, Some(Digest::sha256_of(&raw)));
    }
}
