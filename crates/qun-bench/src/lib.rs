//! The benchmark instrument of Qun as a library, so that its parts can be tested; the
//! `qun-bench` binary (`main.rs`) is the way to use it. See BENCHMARKS.md for the method.

pub mod calibrate;
pub mod fleet;
pub mod group_counter;
pub mod lean;
pub mod protocol;
pub mod report;
pub mod room_counter;
pub mod scenarios;
pub mod server;
pub mod setup;
pub mod stamp;
pub mod sysinfo;
pub mod worker;
