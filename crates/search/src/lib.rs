#![doc = include_str!("../README.md")]

pub mod analysis;
pub mod index;
