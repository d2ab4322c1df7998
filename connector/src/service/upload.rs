//! `UploadAsset` framing, as baton-sdk sends a file: one `metadata` message (host and task),
//! the file in 512 KiB `data` chunks (a shorter last one; none for an empty file), then `eof`
//! with the SHA-256 of the whole file. A failed upload is retried whole, from byte 0, up to
//! three attempts in all.

use std::path::Path;
use std::time::Duration;

use futures_util::Stream;
use ring::digest::{Context, SHA256};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::grpc::{BatonClient, RpcError};
use super::pb::upload_asset_request::{Msg, UploadData, UploadEof, UploadMetadata};
use super::pb::UploadAssetRequest;

/// The size of every `data` chunk but the last (the SDK's `fileChunkSize`).
pub const CHUNK_SIZE: usize = 512 * 1024;
/// Attempts of one upload, and the wait before each retry.
pub const ATTEMPTS: usize = 3;
const RETRY_WAITS: [Duration; 2] = [Duration::ZERO, Duration::from_secs(1)];

/// The SHA-256 of everything `reader` yields.
pub async fn sha256<R: AsyncRead + Unpin>(mut reader: R) -> std::io::Result<[u8; 32]> {
    let mut context = Context::new(&SHA256);
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    Ok(out)
}

enum State<R> {
    Metadata(R),
    Data(R),
    Done,
}

/// Fills `buf` from `reader` as far as it goes: a chunk is short only at the end of the file.
async fn fill<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// The stream of one upload of what `reader` yields, whose SHA-256 is `checksum`. A read error
/// ends the stream without `eof`, so the server refuses the upload rather than keep a torn file.
pub fn frames<R>(
    reader: R,
    host_id: String,
    task_id: String,
    checksum: [u8; 32],
) -> impl Stream<Item = UploadAssetRequest>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let message = |msg| UploadAssetRequest { msg: Some(msg) };
    futures_util::stream::unfold(State::Metadata(reader), move |state| {
        let (host_id, task_id) = (host_id.clone(), task_id.clone());
        async move {
            match state {
                State::Metadata(reader) => Some((
                    message(Msg::Metadata(UploadMetadata {
                        host_id,
                        task_id,
                        annotations: Vec::new(),
                    })),
                    State::Data(reader),
                )),
                State::Data(mut reader) => {
                    let mut buf = vec![0u8; CHUNK_SIZE];
                    match fill(&mut reader, &mut buf).await {
                        Ok(0) => Some((
                            message(Msg::Eof(UploadEof {
                                sha256_checksum: checksum.to_vec(),
                                annotations: Vec::new(),
                            })),
                            State::Done,
                        )),
                        Ok(n) => {
                            buf.truncate(n);
                            Some((message(Msg::Data(UploadData { data: buf })), State::Data(reader)))
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "reading the file to upload failed; the upload is abandoned");
                            None
                        }
                    }
                }
                State::Done => None,
            }
        }
    })
}

/// Why a file could not be uploaded.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("upload failed after {ATTEMPTS} attempts: {0}")]
    Rpc(RpcError),
}

/// Uploads the file at `path` for `task_id`, retried whole up to [`ATTEMPTS`] times.
pub async fn upload_file(client: &BatonClient, path: &Path, host_id: &str, task_id: &str) -> Result<u64, UploadError> {
    let read_error = |source| UploadError::Read {
        path: path.display().to_string(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(read_error)?;
    let checksum = sha256(file).await.map_err(read_error)?;
    let size = tokio::fs::metadata(path).await.map_err(read_error)?.len();
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(RETRY_WAITS[attempt - 1]).await;
        }
        let file = tokio::fs::File::open(path).await.map_err(read_error)?;
        let stream = frames(file, host_id.to_owned(), task_id.to_owned(), checksum);
        match client.upload_asset(stream).await {
            Ok(_) => {
                tracing::info!(task_id, bytes = size, attempt = attempt + 1, "c1z uploaded");
                return Ok(size);
            }
            Err(e) => {
                tracing::warn!(task_id, attempt = attempt + 1, error = %e, "upload failed");
                last = Some(e);
            }
        }
    }
    Err(UploadError::Rpc(last.unwrap_or(RpcError {
        code: tonic::Code::Unknown,
        message: "no attempt was made".into(),
        auth: None,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn framed(data: Vec<u8>) -> Vec<UploadAssetRequest> {
        let checksum = sha256(std::io::Cursor::new(data.clone())).await.unwrap_or_default();
        frames(std::io::Cursor::new(data), "h".into(), "t".into(), checksum)
            .collect()
            .await
    }

    fn data_sizes(frames: &[UploadAssetRequest]) -> Vec<usize> {
        frames
            .iter()
            .filter_map(|f| match &f.msg {
                Some(Msg::Data(d)) => Some(d.data.len()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn chunks_are_512_kib_with_a_short_last_one_and_a_sha256_trailer() {
        let data: Vec<u8> = (0..(CHUNK_SIZE * 2 + 1000)).map(|i| (i % 251) as u8).collect();
        let frames = framed(data.clone()).await;
        assert_eq!(frames.len(), 5, "metadata, 3 chunks, eof");
        assert!(matches!(&frames[0].msg, Some(Msg::Metadata(m)) if m.host_id == "h" && m.task_id == "t"));
        assert_eq!(data_sizes(&frames), vec![CHUNK_SIZE, CHUNK_SIZE, 1000]);
        let joined: Vec<u8> = frames
            .iter()
            .filter_map(|f| match &f.msg {
                Some(Msg::Data(d)) => Some(d.data.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(joined, data);
        let Some(Msg::Eof(eof)) = &frames[4].msg else {
            unreachable!("the last frame is eof: {:?}", frames[4])
        };
        // The checksum is SHA-256 of the whole file, raw 32 bytes.
        let expected = ring::digest::digest(&SHA256, &data);
        assert_eq!(eof.sha256_checksum.as_slice(), expected.as_ref());
        assert_eq!(eof.sha256_checksum.len(), 32);
    }

    #[tokio::test]
    async fn exact_multiples_and_empty_files() {
        assert_eq!(data_sizes(&framed(vec![1; CHUNK_SIZE]).await), vec![CHUNK_SIZE]);
        let empty = framed(Vec::new()).await;
        assert_eq!(empty.len(), 2, "metadata then eof, no data");
        let Some(Msg::Eof(eof)) = &empty[1].msg else {
            unreachable!("eof")
        };
        assert_eq!(
            eof.sha256_checksum.as_slice(),
            ring::digest::digest(&SHA256, b"").as_ref()
        );
    }

    #[tokio::test]
    async fn a_reader_that_dribbles_still_makes_full_chunks() {
        // A reader that returns a few bytes at a time must not produce short middle chunks.
        let data = vec![5u8; CHUNK_SIZE + 10];
        let checksum = sha256(std::io::Cursor::new(data.clone())).await.unwrap_or_default();
        let slow = tokio_test_reader(data);
        let frames: Vec<_> = frames(slow, "h".into(), "t".into(), checksum).collect().await;
        assert_eq!(data_sizes(&frames), vec![CHUNK_SIZE, 10]);
    }

    /// A reader yielding at most 4 KiB per read.
    fn tokio_test_reader(data: Vec<u8>) -> impl AsyncRead + Unpin + Send + 'static {
        let (client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = server.write_all(&data).await;
        });
        client
    }
}
