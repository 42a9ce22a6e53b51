//! QUIC application error codes a Rampart transport closes connections with. A peer's log
//! reads them (see `link::log_closed` and `greeting`), so each says one thing.

use quinn::VarInt;

/// The transport is shutting down.
pub(crate) const SHUTDOWN: VarInt = VarInt::from_u32(0);
/// The peer's key may not take the role it asked for, or its HELLO was malformed.
pub(crate) const REFUSED: VarInt = VarInt::from_u32(1);
/// The peer sent a frame longer than the maximum.
pub(crate) const FRAME_TOO_LARGE: VarInt = VarInt::from_u32(2);
/// A newer connection from the same peer replaced this one.
pub(crate) const REPLACED: VarInt = VarInt::from_u32(3);
/// A stream broke (reset, stopped, or ended inside a frame); both sides start afresh.
pub(crate) const STREAM_BROKEN: VarInt = VarInt::from_u32(4);
/// The client's key is not admitted by the cluster's configuration.
pub(crate) const NOT_ADMITTED: VarInt = VarInt::from_u32(5);
/// The peer runs with another cluster id or other cluster settings; the reason names
/// each setting that differs.
pub(crate) const SETTINGS: VarInt = VarInt::from_u32(6);
/// Another process with the peer's key is live; the reason gives its boot id.
pub(crate) const TWIN: VarInt = VarInt::from_u32(7);
/// An announcement was heard and accepted (see `hello::Purpose::Announce`).
pub(crate) const ANNOUNCED: VarInt = VarInt::from_u32(8);
/// The peer's HELLO, or its answer to ours, did not come within the handshake timeout.
pub(crate) const GAVE_UP: VarInt = VarInt::from_u32(9);
