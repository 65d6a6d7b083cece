//! Captures round-trip; pcapng and both byte orders read; corrupt files
//! are errors, never panics.

use dpuc_runtime::pcap::{read, write, Frame, PcapError};
use proptest::prelude::*;

fn frames() -> Vec<Frame> {
    vec![
        Frame {
            ts_ns: 1_700_000_000_123_456_789,
            data: vec![1; 60],
        },
        Frame {
            ts_ns: 1_700_000_001_000_000_001,
            data: vec![2; 14],
        },
    ]
}

#[test]
fn classic_round_trip_keeps_nanoseconds() {
    assert_eq!(read(&write(&frames())), Ok(frames()));
}

#[test]
fn big_endian_microsecond_pcap_reads() {
    let mut b = Vec::new();
    for v in [0xa1b2_c3d4_u32, 0x0002_0004, 0, 0, 65535, 1] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    for v in [10u32, 5, 3, 3] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&[7, 8, 9]);
    assert_eq!(
        read(&b),
        Ok(vec![Frame {
            ts_ns: 10_000_005_000,
            data: vec![7, 8, 9]
        }])
    );
}

/// A pcapng block: type, total length, body, total length again.
fn block(ty: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = (body.len() + 12) as u32;
    let mut b = ty.to_le_bytes().to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

#[test]
fn pcapng_with_nanosecond_resolution_and_unknown_blocks() {
    let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut idb = vec![1, 0, 0, 0, 0xff, 0xff, 0, 0];
    idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]); // if_tsresol = 10^-9, end
    let ts: u64 = 5_000_000_007;
    let mut epb = vec![0, 0, 0, 0];
    epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    epb.extend_from_slice(&(ts as u32).to_le_bytes());
    epb.extend_from_slice(&3u32.to_le_bytes());
    epb.extend_from_slice(&3u32.to_le_bytes());
    epb.extend_from_slice(&[4, 5, 6]);
    let mut file = block(0x0a0d_0d0a, &shb);
    file.extend(block(1, &idb));
    file.extend(block(0x0bad, &[1, 2, 3, 4]));
    file.extend(block(6, &epb));
    assert_eq!(
        read(&file),
        Ok(vec![Frame {
            ts_ns: ts,
            data: vec![4, 5, 6]
        }])
    );
}

#[test]
fn corrupt_files_are_errors() {
    assert_eq!(read(&[]), Err(PcapError::NotPcap));
    assert_eq!(read(b"hello world, not a capture"), Err(PcapError::NotPcap));
    let good = write(&frames());
    assert!(matches!(
        read(&good[..good.len() - 1]),
        Err(PcapError::Truncated(_))
    ));
    let mut other_link = good.clone();
    other_link[20] = 101;
    assert_eq!(read(&other_link), Err(PcapError::LinkType(101)));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), ng in any::<bool>()) {
        if ng && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]);
        }
        let _ = read(&bytes);
    }
}
