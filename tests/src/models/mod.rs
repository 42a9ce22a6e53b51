//! The applications that ship with Rampart, as campaigns test them through the same API as
//! any user's application ([`crate::campaign`]): each with its workload and a sequential
//! model written from its specification, not from its code.

pub mod interlock;
pub mod kv;
