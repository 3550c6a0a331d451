//! Scanning images: their merged filesystems (read from the registry layer by layer) handed to
//! a scanner plugin (`pipeline`), and the results written in the report formats of `report`.

pub mod pipeline;
pub mod report;
