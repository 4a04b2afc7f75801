//! The file under an MCAP writer: buffered, counting, optionally size-capped
//! (to test a full disk without filling one), and syncable from outside.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A buffered file whose writes fail with `StorageFull` once `cap` bytes would
/// be exceeded (a stand-in for a full disk in tests and drills).
pub struct SinkFile {
    inner: BufWriter<CappedFile>,
}

struct CappedFile {
    file: File,
    pos: u64,
    cap: Option<u64>,
    written: Arc<AtomicU64>,
}

impl SinkFile {
    /// `cap`: fail writes past this many bytes. `written` tracks the bytes that
    /// reached the OS (shared so the owner can read it while the writer owns us).
    pub fn new(file: File, cap: Option<u64>, written: Arc<AtomicU64>) -> Self {
        SinkFile { inner: BufWriter::with_capacity(1 << 20, CappedFile { file, pos: 0, cap, written }) }
    }
}

impl Write for CappedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.cap {
            Some(cap) if self.pos + buf.len() as u64 > cap => {
                let room = cap.saturating_sub(self.pos) as usize;
                if room == 0 {
                    return Err(io::Error::new(io::ErrorKind::StorageFull, "size cap reached (simulated full disk)"));
                }
                self.file.write(&buf[..room])?
            }
            _ => self.file.write(buf)?,
        };
        self.pos += n as u64;
        self.written.fetch_max(self.pos, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for CappedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = self.file.seek(pos)?;
        Ok(self.pos)
    }
}

impl Write for SinkFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for SinkFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
    fn stream_position(&mut self) -> io::Result<u64> {
        // BufWriter's default would flush; the position is buffered + written.
        Ok(self.inner.get_ref().pos + self.inner.buffer().len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_gives_storage_full() {
        let p = std::env::temp_dir().join(format!("kotoba-sink-{}", std::process::id()));
        let written = Arc::new(AtomicU64::new(0));
        let mut s = SinkFile::new(File::create(&p).unwrap(), Some(10), written.clone());
        s.write_all(b"0123456").unwrap();
        assert_eq!(s.stream_position().unwrap(), 7);
        s.write_all(b"89abcdef").unwrap();
        let e = s.flush().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert_eq!(written.load(Ordering::Relaxed), 10);
        std::fs::remove_file(p).unwrap();
    }
}
