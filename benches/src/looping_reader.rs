//! A byte source that repeats the same bytes forever, standing in for a
//! socket in decode benchmarks.

use bytes::BytesMut;

/// Bytes the pattern is repeated to fill, at least, so that a read is one or
/// two copies, as a socket read is one copy.
const MIN_SPAN: usize = 16 * 1024;

/// Repeats `data` forever; each read appends to a [`BytesMut`] the way an
/// adapter's socket read fills its read buffer.
///
/// ```
/// use benches::looping_reader::LoopingReader;
/// use bytes::BytesMut;
///
/// let mut reader = LoopingReader::new(b"abc".to_vec());
/// let mut buf = BytesMut::new();
/// assert_eq!(reader.read_into(&mut buf, 5), 5);
/// assert_eq!(&buf[..], b"abcab");
/// ```
#[derive(Debug, Clone)]
pub struct LoopingReader {
    data: Vec<u8>,
    position: usize,
}

impl LoopingReader {
    /// A reader over `data`, which must not be empty.
    ///
    /// ```
    /// use benches::looping_reader::LoopingReader;
    /// let reader = LoopingReader::new(b"\0RES\0\0\0\x06\0\0\0\0".to_vec());
    /// # let _ = reader;
    /// ```
    pub fn new(data: Vec<u8>) -> LoopingReader {
        assert!(
            !data.is_empty(),
            "a looping reader needs bytes to loop over"
        );
        let data = data.repeat(MIN_SPAN.div_ceil(data.len()));
        LoopingReader { data, position: 0 }
    }

    /// Appends exactly `len` bytes to `buf`, wrapping around as needed, and
    /// returns `len`.
    ///
    /// ```
    /// use benches::looping_reader::LoopingReader;
    /// use bytes::BytesMut;
    /// let mut reader = LoopingReader::new(b"xy".to_vec());
    /// let mut buf = BytesMut::new();
    /// reader.read_into(&mut buf, 3);
    /// reader.read_into(&mut buf, 3);
    /// assert_eq!(&buf[..], b"xyxyxy");
    /// ```
    pub fn read_into(&mut self, buf: &mut BytesMut, len: usize) -> usize {
        let mut left = len;
        while left > 0 {
            let run = (self.data.len() - self.position).min(left);
            buf.extend_from_slice(&self.data[self.position..self.position + run]);
            self.position = (self.position + run) % self.data.len();
            left -= run;
        }
        len
    }
}
