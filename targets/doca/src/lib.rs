//! `dpuc-doca`: the DOCA Flow backend of dpuc (work in progress).
