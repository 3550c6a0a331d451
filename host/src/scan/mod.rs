//! Scanning images: their merged filesystems (read from the registry layer by layer) handed to
//! a scanner plugin, and the results written in the report formats of `report`.

pub mod report;
