//! Length-framed messages on a byte stream: a u32 big-endian length, then that many bytes.
//!
//! The length is read, and checked against the limit, before any of the body is read or
//! any memory is set aside for it: a peer cannot make us buffer more than the limit. The
//! body's memory then grows only as its bytes arrive, [`READ_STEP_BYTES`] at a time, so a
//! peer that announces a long frame and stalls costs what it sent and one step, not the
//! length it announced.

use std::future::Future;
use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
#[cfg(test)]
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Bytes in a frame's length prefix.
const HEADER_BYTES: usize = 4;

/// The most memory set aside for a frame's body ahead of the bytes that fill it.
const READ_STEP_BYTES: usize = 64 * 1024;

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

/// One frame as the bytes that carry it: its length prefix, then the frame. The simulator
/// carries these over its network.
pub fn framed(frame: &[u8]) -> Bytes {
    let mut bytes = BytesMut::with_capacity(HEADER_BYTES + frame.len());
    bytes.put_u32(u32::try_from(frame.len()).unwrap_or(u32::MAX));
    bytes.put_slice(frame);
    bytes.freeze()
}

/// Reads the one frame `bytes` carry with [`read_frame`], the reader of every stream, with
/// the same checks: a length over `max_frame_bytes` or a truncated frame is an error.
pub fn unframed(bytes: &[u8], max_frame_bytes: usize) -> Result<Option<Bytes>, FrameError> {
    let mut reader = bytes;
    let mut read = std::pin::pin!(read_frame(&mut reader, max_frame_bytes));
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match read.as_mut().poll(&mut context) {
        std::task::Poll::Ready(result) => result,
        // A slice is always ready: reading it never waits.
        std::task::Poll::Pending => Err(FrameError::Truncated),
    }
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
    read_body(reader, length).await.map(Some)
}

/// Reads a body of `length` bytes in steps of at most [`READ_STEP_BYTES`], each allocated
/// only once the previous one is full. A body longer than one step is put together once
/// all of it has arrived.
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    length: usize,
) -> Result<Bytes, FrameError> {
    if length <= READ_STEP_BYTES {
        return read_step(reader, length).await.map(BytesMut::freeze);
    }
    let mut steps = Vec::with_capacity(length.div_ceil(READ_STEP_BYTES));
    let mut received = 0;
    while received < length {
        let step = read_step(reader, (length - received).min(READ_STEP_BYTES)).await?;
        received += step.len();
        steps.push(step);
    }
    let mut body = BytesMut::with_capacity(length);
    for step in steps {
        body.extend_from_slice(&step);
    }
    Ok(body.freeze())
}

/// Reads exactly `length` bytes into a buffer of that capacity.
async fn read_step<R: AsyncRead + Unpin>(
    reader: &mut R,
    length: usize,
) -> Result<BytesMut, FrameError> {
    let mut step = BytesMut::with_capacity(length);
    while step.len() < length {
        // Limited to what is missing, so nothing past this frame is read.
        let missing = length - step.len();
        if reader.read_buf(&mut (&mut step).limit(missing)).await? == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(step)
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

    /// A reader that hands out `data`, then stalls forever, like a peer that announced a
    /// frame and stopped sending; it records the largest buffer it was asked to fill.
    struct Stalling {
        data: Vec<u8>,
        position: usize,
        largest_buffer_offered: usize,
    }

    impl AsyncRead for Stalling {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _context: &mut std::task::Context<'_>,
            buffer: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            self.largest_buffer_offered = self.largest_buffer_offered.max(buffer.remaining());
            if self.position == self.data.len() {
                return std::task::Poll::Pending;
            }
            let count = buffer
                .remaining()
                .min(self.data.len() - self.position)
                .min(1000);
            buffer.put_slice(&self.data[self.position..self.position + count]);
            self.position += count;
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_stalled_frame_holds_only_the_bytes_that_arrived_and_one_step() {
        // A 16 MiB frame announced, 1 KiB of it sent, then nothing.
        let mut data = (16u32 << 20).to_be_bytes().to_vec();
        data.extend_from_slice(&[7u8; 1024]);
        let mut reader = Stalling {
            data,
            position: 0,
            largest_buffer_offered: 0,
        };
        // One poll reads everything that arrived, then the frame waits for more.
        tokio::select! {
            biased;
            _ = read_frame(&mut reader, 32 << 20) => panic!("the frame cannot be complete"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(
            reader.position,
            reader.data.len(),
            "everything sent was read"
        );
        assert!(
            reader.largest_buffer_offered <= READ_STEP_BYTES,
            "a buffer of {} bytes was set aside for 1 KiB received",
            reader.largest_buffer_offered
        );
    }

    #[tokio::test]
    async fn a_frame_longer_than_one_step_arrives_whole_and_in_order() {
        let frame: Vec<u8> = (0..(3 * READ_STEP_BYTES + 17)).map(|i| i as u8).collect();
        let mut buffer = Vec::new();
        write_frame(&mut buffer, &frame).await.expect("write");
        write_frame(&mut buffer, b"next").await.expect("write");
        let mut reader = buffer.as_slice();
        let read = read_frame(&mut reader, 1 << 20).await.expect("read");
        assert_eq!(read.as_deref(), Some(frame.as_slice()));
        let read = read_frame(&mut reader, 1 << 20).await.expect("read");
        assert_eq!(read.as_deref(), Some(&b"next"[..]));
        let mut truncated = &buffer[..2 * READ_STEP_BYTES];
        assert!(matches!(
            read_frame(&mut truncated, 1 << 20).await,
            Err(FrameError::Truncated)
        ));
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
