//! Reading a BPF ring buffer from user space: the consumer position page is
//! mapped read-write, the producer position page and the data (mapped twice
//! by the kernel, so a record never wraps) read-only.

use super::{Error, Map};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The record is still being written.
const BUSY: u32 = 1 << 31;
/// The producer discarded the record.
const DISCARD: u32 = 1 << 30;
/// Record header bytes (length word and page offset).
const HEADER: usize = 8;

/// A consumer of one ring buffer map.
pub struct RingReader {
    consumer: *mut u8,
    producer: *mut u8,
    page: usize,
    size: usize,
}

fn mmap_err(op: &'static str) -> Error {
    Error::Sys {
        op,
        source: std::io::Error::last_os_error(),
    }
}

impl RingReader {
    /// Maps `map` (a `BPF_MAP_TYPE_RINGBUF`) for reading.
    pub fn new(map: &Map) -> Result<RingReader, Error> {
        if map.spec().map_type != 27 {
            return Err(Error::Object(format!(
                "map `{}` is not a ring buffer",
                map.name()
            )));
        }
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| Error::Object("no page size".into()))?;
        let size = map.spec().max_entries as usize;
        let fd = map.fd().as_raw_fd();
        // SAFETY: a fresh shared mapping of the map's consumer page; the
        // kernel allows read-write there. Checked against MAP_FAILED below.
        let consumer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if consumer == libc::MAP_FAILED {
            return Err(mmap_err("mmap ring buffer consumer page"));
        }
        // SAFETY: the producer page and the data, mapped twice by the
        // kernel (2 × size), read-only as the kernel requires.
        let producer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page + 2 * size,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                page as libc::off_t,
            )
        };
        if producer == libc::MAP_FAILED {
            let e = mmap_err("mmap ring buffer data");
            // SAFETY: `consumer` was mapped above with this length.
            unsafe { libc::munmap(consumer, page) };
            return Err(e);
        }
        Ok(RingReader {
            consumer: consumer.cast(),
            producer: producer.cast(),
            page,
            size,
        })
    }

    /// The next committed record, if any.
    pub fn next_record(&mut self) -> Option<Vec<u8>> {
        loop {
            // SAFETY: both positions are 8-byte aligned words at the start
            // of pages this reader maps for its whole life; the kernel
            // updates them concurrently, hence the atomics.
            let (cons, prod) = unsafe {
                (
                    &*(self.consumer as *const AtomicU64),
                    &*(self.producer as *const AtomicU64),
                )
            };
            let at = cons.load(Ordering::Acquire);
            if at >= prod.load(Ordering::Acquire) {
                return None;
            }
            let offset = self.page + (at as usize & (self.size - 1));
            // SAFETY: `offset` is within the data area (page + size), and a
            // record header is 8-byte aligned there.
            let len_word = unsafe { &*(self.producer.add(offset) as *const AtomicU32) };
            let len = len_word.load(Ordering::Acquire);
            if len & BUSY != 0 {
                return None;
            }
            let n = (len & !(BUSY | DISCARD)) as usize;
            if n > self.size {
                return None;
            }
            // SAFETY: the data area is mapped twice in a row, so `n` bytes
            // after the header never run past the mapping (n <= size).
            let data = unsafe { std::slice::from_raw_parts(self.producer.add(offset + HEADER), n) }
                .to_vec();
            cons.store(at + (n + HEADER).div_ceil(8) as u64 * 8, Ordering::Release);
            if len & DISCARD == 0 {
                return Some(data);
            }
        }
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        // SAFETY: both regions were mapped in `new` with these lengths and
        // are unmapped once.
        unsafe {
            libc::munmap(self.consumer.cast(), self.page);
            libc::munmap(self.producer.cast(), self.page + 2 * self.size);
        }
    }
}
