//! The three output formats. Each is a pure function from outcomes to text.

pub mod explain;
pub mod json;
pub mod table;
