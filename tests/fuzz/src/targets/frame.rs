//! `net/frame.rs`: the length-framed stream every QUIC stream carries, read by
//! [`read_frame`] as bytes trickle in.
//!
//! Input: a byte choosing the frame limit, a byte choosing how the stream delivers its
//! bytes (how many per read, and whether reads sometimes have to wait), then the stream.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, ReadBuf};

use rampart_replica::net::frame::read_frame;

use crate::{Choices, Outcome};

/// A stream that delivers at most `step` bytes per read and, if `stalls`, answers every
/// other read with "not yet", as a network does.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
    stalls: bool,
    stalled: bool,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.stalls && !self.stalled {
            self.stalled = true;
            context.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.stalled = false;
        let count = self.step.min(self.bytes.len()).min(buffer.remaining());
        let (head, rest) = self.bytes.split_at(count);
        buffer.put_slice(head);
        self.bytes = rest;
        Poll::Ready(Ok(()))
    }
}

pub fn run(data: &[u8]) -> Outcome {
    let mut choices = Choices::new(data);
    let max_frame_bytes = usize::from(choices.byte()) * 16;
    let delivery = choices.byte();
    let stream = choices.rest();
    let mut reader = Trickle {
        bytes: stream,
        step: usize::from(delivery & 0x3f) + 1,
        stalls: delivery & 0x40 != 0,
        stalled: false,
    };
    let mut context = Context::from_waker(Waker::noop());
    let mut delivered = 0;
    loop {
        let mut read = pin!(read_frame(&mut reader, max_frame_bytes));
        // The stream never stalls twice in a row, so every other poll makes progress.
        let result = loop {
            if let Poll::Ready(result) = read.as_mut().poll(&mut context) {
                break result;
            }
        };
        match result {
            Ok(Some(frame)) => {
                assert!(frame.len() <= max_frame_bytes, "a frame above the limit");
                delivered += frame.len() + 4;
                assert!(delivered <= stream.len(), "more bytes out than in");
            }
            Ok(None) => return Outcome::Accepted,
            Err(_) => return Outcome::Refused,
        }
    }
}
