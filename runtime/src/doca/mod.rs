//! The DOCA Flow simulator (work in progress).
