//! A binary packet borrowed from a byte slice, and the field splitting that
//! [`Packet`] shares.

use bytes::{BufMut, Bytes};

use crate::packet::BuildError;
use crate::packet::{Command, Field, Magic};
use crate::packet::{HEADER_LEN, Packet, put_header};

/// Separators kept in a packet; covers every command of up to three fields.
pub(crate) const STORED_SEPARATORS: usize = 2;

/// A binary packet whose payload is borrowed: a [`Command`] and a `&[u8]`.
///
/// It reads like a [`Packet`] (same accessors, same field rules) but holds no
/// buffer, so making and dropping one costs no reference counting. It is what
/// [`Decoder::decode_packet_ref`](crate::Decoder::decode_packet_ref) returns:
/// a view of a frame still in the caller's read buffer. Call
/// [`to_packet`](PacketRef::to_packet) to keep it past the buffer's next
/// change.
///
/// ```
/// use gearman_proto::{Command, PacketRef};
///
/// let p = PacketRef::new(Command::JobAssign, b"H:lap:1\0reverse\0te\0st").unwrap();
/// assert_eq!(p.handle(), Some(&b"H:lap:1"[..]));
/// assert_eq!(p.function(), Some(&b"reverse"[..]));
/// assert_eq!(p.data(), Some(&b"te\0st"[..]));
/// assert_eq!(p.encoded_len(), 12 + 21);
/// assert_eq!(p.to_packet(), p);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketRef<'a> {
    /// Offsets of the first [`STORED_SEPARATORS`] NUL separators (zero when
    /// the command has fewer). Later ones are found again on access: only a
    /// few commands have them, and a small packet is cheaper to build on
    /// every decode than one storing all seven.
    separators: [u32; STORED_SEPARATORS],
    payload: &'a [u8],
    command: Command,
}

impl<'a> PacketRef<'a> {
    /// Wraps a raw payload, splitting it into the command's fields.
    ///
    /// Fails with [`BuildError::MissingFields`] when the payload has fewer NUL
    /// separators than the command needs. Extra NULs belong to the last field.
    /// A payload on a command without fields is kept as is, so re-encoding
    /// gives back the same bytes.
    ///
    /// ```
    /// use gearman_proto::{BuildError, Command, PacketRef};
    /// assert!(PacketRef::new(Command::EchoRes, b"any\0bytes").is_ok());
    /// assert!(matches!(
    ///     PacketRef::new(Command::JobAssign, b"H:lap:1\0reverse"),
    ///     Err(BuildError::MissingFields { found: 2, .. })
    /// ));
    /// ```
    #[inline(always)]
    pub fn new(command: Command, payload: &'a [u8]) -> Result<PacketRef<'a>, BuildError> {
        let mut separators = [0u32; STORED_SEPARATORS];
        let mut start = 0usize;
        for found in 0..separator_count(command) {
            match find_nul(&payload[start..]) {
                Some(at) => {
                    if let Some(slot) = separators.get_mut(found) {
                        *slot = (start + at) as u32;
                    }
                    start += at + 1;
                }
                None => {
                    return Err(BuildError::MissingFields {
                        command,
                        expected: command.field_count(),
                        found: found + 1,
                    });
                }
            }
        }
        Ok(PacketRef {
            separators,
            payload,
            command,
        })
    }

    /// A view with separators already found (by [`PacketRef::new`] on the
    /// same command and payload).
    #[inline(always)]
    pub(crate) fn from_split(
        command: Command,
        separators: [u32; STORED_SEPARATORS],
        payload: &'a [u8],
    ) -> PacketRef<'a> {
        PacketRef {
            separators,
            payload,
            command,
        }
    }

    /// The separator offsets, for a [`Packet`] built from this view.
    #[inline(always)]
    pub(crate) fn separators(&self) -> [u32; STORED_SEPARATORS] {
        self.separators
    }

    /// The packet's command (type and direction).
    #[inline]
    pub fn command(&self) -> Command {
        self.command
    }

    /// The magic the packet is sent with.
    #[inline]
    pub fn magic(&self) -> Magic {
        self.command.magic()
    }

    /// The whole payload after the 12-byte header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Number of fields (the command's, see [`Command::fields`]).
    #[inline]
    pub fn field_count(&self) -> usize {
        self.command.field_count()
    }

    /// Offset of the NUL ending field `index` (below `field_count - 1`).
    fn separator(&self, index: usize) -> usize {
        if let Some(&at) = self.separators.get(index) {
            return at as usize;
        }
        // Past the stored ones: scan on from the last stored separator. The
        // payload was checked to hold them all when the view was made.
        let mut at = self.separators[STORED_SEPARATORS - 1] as usize;
        for _ in STORED_SEPARATORS..=index {
            let start = at + 1;
            at = find_nul(&self.payload[start..]).map_or(self.payload.len(), |n| start + n);
        }
        at
    }

    /// Byte range of field `index` in the payload.
    #[inline]
    pub(crate) fn range(&self, index: usize) -> Option<std::ops::Range<usize>> {
        let count = self.field_count();
        if index >= count {
            return None;
        }
        let start = if index == 0 {
            0
        } else {
            self.separator(index - 1) + 1
        };
        let end = if index + 1 == count {
            self.payload.len()
        } else {
            self.separator(index)
        };
        Some(start..end)
    }

    /// Field `index` in wire order.
    #[inline]
    pub fn arg(&self, index: usize) -> Option<&'a [u8]> {
        self.range(index).map(|range| &self.payload[range])
    }

    /// Iterates the fields in wire order.
    #[inline]
    pub fn args(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + use<'a> {
        let packet = *self;
        (0..self.field_count()).map(move |i| packet.arg(i).expect("index below field_count"))
    }

    /// Position of a named field in this command's wire order.
    #[inline]
    pub(crate) fn index_of(&self, field: Field) -> Option<usize> {
        let position = *FIELD_POSITIONS[self.command as usize].get(field as usize)?;
        (position != ABSENT).then_some(position as usize)
    }

    /// A named field; `None` if this command has no such field.
    #[inline]
    pub fn field(&self, field: Field) -> Option<&'a [u8]> {
        self.arg(self.index_of(field)?)
    }

    /// The job handle. For WORK_FAIL one trailing NUL is dropped: gearmand
    /// sends `H\0` when it turns an exception into a failure.
    #[inline]
    pub fn handle(&self) -> Option<&'a [u8]> {
        let handle = self.field(Field::Handle)?;
        Some(match self.command {
            Command::WorkFailReq | Command::WorkFailRes => {
                handle.strip_suffix(b"\0").unwrap_or(handle)
            }
            _ => handle,
        })
    }

    /// The function name.
    #[inline]
    pub fn function(&self) -> Option<&'a [u8]> {
        self.field(Field::Function)
    }

    /// The unique id.
    #[inline]
    pub fn unique(&self) -> Option<&'a [u8]> {
        self.field(Field::Unique)
    }

    /// The opaque data (workload, result, echo payload, exception text).
    #[inline]
    pub fn data(&self) -> Option<&'a [u8]> {
        self.field(Field::Data)
    }

    /// Number of bytes [`PacketRef::encode`] writes.
    #[inline]
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Appends the packet's wire bytes to `buf`.
    ///
    /// ```
    /// use gearman_proto::{Command, PacketRef};
    /// let mut out = Vec::new();
    /// PacketRef::new(Command::CanDo, b"resize").unwrap().encode(&mut out);
    /// assert_eq!(out, b"\0REQ\0\0\0\x01\0\0\0\x06resize");
    /// ```
    #[inline]
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        put_header(buf, self.command, self.payload.len());
        buf.put_slice(self.payload);
    }

    /// Copies the payload into an owned [`Packet`], which outlives the buffer
    /// this view borrows from. The fields are not split again.
    ///
    /// ```
    /// use gearman_proto::{Command, PacketRef};
    /// let wire = b"H:lap:1".to_vec();
    /// let owned = PacketRef::new(Command::JobCreated, &wire).unwrap().to_packet();
    /// drop(wire);
    /// assert_eq!(owned.handle(), Some(&b"H:lap:1"[..]));
    /// ```
    pub fn to_packet(&self) -> Packet {
        Packet::from_split(
            self.command,
            self.separators,
            Bytes::copy_from_slice(self.payload),
        )
    }
}

impl From<PacketRef<'_>> for Packet {
    fn from(packet: PacketRef<'_>) -> Packet {
        packet.to_packet()
    }
}

impl PartialEq<Packet> for PacketRef<'_> {
    fn eq(&self, other: &Packet) -> bool {
        *self == other.as_packet_ref()
    }
}

impl PartialEq<PacketRef<'_>> for Packet {
    fn eq(&self, other: &PacketRef<'_>) -> bool {
        self.as_packet_ref() == *other
    }
}

impl std::fmt::Debug for PacketRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_tuple(self.command.name());
        for arg in self.args() {
            list.field(&Bytes::copy_from_slice(arg));
        }
        list.finish()
    }
}

/// NUL separators per command (fields minus one), indexed by the command's
/// declaration order: one load on the decode path instead of a call.
const SEPARATOR_COUNTS: [u8; Command::ALL.len()] = {
    let mut counts = [0u8; Command::ALL.len()];
    let mut i = 0;
    while i < Command::ALL.len() {
        let command = Command::ALL[i];
        counts[command as usize] = command.field_count().saturating_sub(1) as u8;
        i += 1;
    }
    counts
};

/// Kinds of [`Field`] the position table covers. A field added past these
/// fails the table's construction at compile time.
const FIELD_KINDS: usize = Field::DayOfWeek as usize + 1;

/// Marks a field the command does not have in [`FIELD_POSITIONS`].
const ABSENT: u8 = u8::MAX;

/// Position of each field in each command's wire order, indexed by the
/// command's and the field's declaration order: reading a named field is one
/// load instead of a search of the command's field list.
const FIELD_POSITIONS: [[u8; FIELD_KINDS]; Command::ALL.len()] = {
    let mut table = [[ABSENT; FIELD_KINDS]; Command::ALL.len()];
    let mut i = 0;
    while i < Command::ALL.len() {
        let command = Command::ALL[i];
        let fields = command.fields();
        let mut position = 0;
        while position < fields.len() {
            table[command as usize][fields[position] as usize] = position as u8;
            position += 1;
        }
        i += 1;
    }
    table
};

#[inline(always)]
fn separator_count(command: Command) -> usize {
    SEPARATOR_COUNTS[command as usize] as usize
}

/// Position of the first NUL. Fields before the data are short (handles,
/// names), where eight bytes at a time beat `memchr`'s call and setup (and a
/// loop over each byte, whose speed swings with its code's alignment); a
/// long field falls through to `memchr`.
#[inline]
fn find_nul(hay: &[u8]) -> Option<usize> {
    const SHORT: usize = 32;
    let head = &hay[..hay.len().min(SHORT)];
    let mut words = head.chunks_exact(8);
    for (i, word) in words.by_ref().enumerate() {
        let w = u64::from_le_bytes(word.try_into().expect("chunks of eight"));
        // High bit set in each zero byte's place; a borrow can flag a byte
        // above a real zero too, but never the lowest, which is the answer.
        let zeros = w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080;
        if zeros != 0 {
            return Some(i * 8 + zeros.trailing_zeros() as usize / 8);
        }
    }
    let tail = head.len() - words.remainder().len();
    match words.remainder().iter().position(|&b| b == 0) {
        Some(at) => Some(tail + at),
        None if hay.len() > SHORT => memchr::memchr(0, &hay[SHORT..]).map(|at| SHORT + at),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_nul_finds_the_first_nul_at_any_place_and_length() {
        for len in 0..80 {
            for at in 0..=len {
                let mut hay = vec![0xffu8; len];
                // A 0x01 just above the NUL is the case a borrow flags wrongly.
                if at < len {
                    hay[at] = 0;
                    if at + 1 < len {
                        hay[at + 1] = 1;
                    }
                }
                let want = (at < len).then_some(at);
                assert_eq!(find_nul(&hay), want, "len {len}, NUL at {at}");
                hay.iter_mut()
                    .for_each(|b| *b = if *b == 0 { 0 } else { 0x80 });
                assert_eq!(find_nul(&hay), want, "high bytes, len {len}, NUL at {at}");
            }
        }
    }

    #[test]
    fn fields_past_the_stored_separators_are_found_on_access() {
        let payload = b"f\0uniq\x001\x0022\x00333\0\x007\0da\0ta";
        let p = PacketRef::new(Command::SubmitJobSched, payload).unwrap();
        let fields: [&[u8]; 8] = [b"f", b"uniq", b"1", b"22", b"333", b"", b"7", b"da\0ta"];
        assert_eq!(p.args().collect::<Vec<_>>(), fields);
        assert!(matches!(
            PacketRef::new(Command::SubmitJobSched, b"f\0uniq\x001\x002"),
            Err(BuildError::MissingFields { found: 4, .. })
        ));
    }

    #[test]
    fn fields_outlive_the_view() {
        let payload = b"H:x:1\x001\x000\x003\x004".to_vec();
        let denominator = {
            let p = PacketRef::new(Command::StatusRes, &payload).unwrap();
            p.field(Field::Denominator)
        };
        assert_eq!(denominator, Some(&b"4"[..]));
    }

    #[test]
    fn field_positions_agree_with_the_command_table() {
        for &command in Command::ALL {
            for (position, &field) in command.fields().iter().enumerate() {
                let packet = PacketRef::from_split(command, [0; STORED_SEPARATORS], b"");
                assert_eq!(
                    packet.index_of(field),
                    Some(position),
                    "{command} {field:?}"
                );
            }
            let absent = [
                Field::Function,
                Field::Handle,
                Field::Data,
                Field::DayOfWeek,
            ]
            .into_iter()
            .filter(|field| !command.fields().contains(field));
            for field in absent {
                let packet = PacketRef::from_split(command, [0; STORED_SEPARATORS], b"");
                assert_eq!(packet.index_of(field), None, "{command} {field:?}");
            }
        }
    }

    #[test]
    fn debug_matches_the_owned_packet() {
        let p = PacketRef::new(Command::WorkFailRes, b"H:a:1\0").unwrap();
        assert_eq!(p.handle(), Some(&b"H:a:1"[..]));
        assert_eq!(format!("{p:?}"), format!("{:?}", p.to_packet()));
    }
}
