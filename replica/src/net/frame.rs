//! Length-framed messages on a byte stream: a u32 big-endian length, then that many bytes.
//!
//! The length is read, and checked against the limit, before any of the body is read or
//! any memory is set aside for it: a peer cannot make us buffer more than the limit.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
#[cfg(test)]
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Bytes in a frame's length prefix.
const HEADER_BYTES: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a frame of {length} bytes exceeds the maximum of {max_frame_bytes}")]
    TooLarge {
        length: usize,
        max_frame_bytes: usize,
    },
    #[error("the stream ended inside a frame")]
    Truncated,
    #[error("stream error: {source}")]
    Io {
        #[from]
        source: io::Error,
    },
}

/// Writes one frame (the transport writes several at once, see [`framed_chunks`]).
#[cfg(test)]
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &[u8],
) -> Result<(), FrameError> {
    let length = u32::try_from(frame.len()).map_err(|_| FrameError::TooLarge {
        length: frame.len(),
        max_frame_bytes: u32::MAX as usize,
    })?;
    writer.write_all(&length.to_be_bytes()).await?;
    writer.write_all(frame).await?;
    Ok(())
}

/// Frames as the chunks of one write: each frame's length prefix, then the frame itself,
/// without copying it. The frames must fit the u32 prefix, which `send` checked against
/// `max_frame_bytes`.
pub(crate) fn framed_chunks(frames: Vec<Bytes>) -> Vec<Bytes> {
    let mut chunks = Vec::with_capacity(2 * frames.len());
    for frame in frames {
        let length = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        chunks.push(Bytes::copy_from_slice(&length.to_be_bytes()));
        chunks.push(frame);
    }
    chunks
}

/// Reads one frame, or `None` if the stream ended cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_bytes: usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut header = [0u8; HEADER_BYTES];
    let mut filled = 0;
    while filled < HEADER_BYTES {
        let read = reader.read(&mut header[filled..]).await?;
        if read == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        filled += read;
    }
    let length = u32::from_be_bytes(header) as usize;
    if length > max_frame_bytes {
        return Err(FrameError::TooLarge {
            length,
            max_frame_bytes,
        });
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.map_err(|error| {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io { source: error }
        }
    })?;
    Ok(Some(Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_in_order() {
        let mut buffer = Vec::new();
        for frame in [&b"first"[..], b"", b"third"] {
            write_frame(&mut buffer, frame).await.expect("write");
        }
        let mut reader = buffer.as_slice();
        for expected in [&b"first"[..], b"", b"third"] {
            let frame = read_frame(&mut reader, 16).await.expect("read");
            assert_eq!(frame.as_deref(), Some(expected));
        }
        assert!(read_frame(&mut reader, 16).await.expect("end").is_none());
    }

    #[tokio::test]
    async fn oversized_length_is_refused_without_a_body() {
        // Only the header: a reader that waited for the body would fail with Truncated.
        let header = u32::MAX.to_be_bytes();
        let mut reader = &header[..];
        let result = read_frame(&mut reader, 1024).await;
        assert!(matches!(
            result,
            Err(FrameError::TooLarge {
                length,
                max_frame_bytes: 1024
            }) if length == u32::MAX as usize
        ));
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_frame_is_truncated() {
        let mut reader = &[0u8, 0][..];
        assert!(matches!(
            read_frame(&mut reader, 16).await,
            Err(FrameError::Truncated)
        ));
        let mut reader = &[0u8, 0, 0, 5, b'a'][..];
        assert!(matches!(
            read_frame(&mut reader, 16).await,
            Err(FrameError::Truncated)
        ));
    }
}
