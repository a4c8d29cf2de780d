//! The protobuf wire format: varints, keys, length-delimited fields.

use super::bad;
use crate::status::ApiError;

/// A protobuf wire-format reader over one message's bytes.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(super) fn done(&self) -> bool {
        self.buf.is_empty()
    }

    pub(super) fn varint(&mut self) -> Result<u64, ApiError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(bad("the body ends inside a varint"));
            };
            self.buf = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(bad("a varint is longer than 10 bytes"))
    }

    /// The next field's number and wire type; `None` at the end.
    pub(super) fn key(&mut self) -> Result<Option<(u32, u8)>, ApiError> {
        if self.done() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| bad("a field number is out of range"))?;
        if tag == 0 {
            return Err(bad("field number 0"));
        }
        Ok(Some((tag, (key & 7) as u8)))
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], ApiError> {
        if n > self.buf.len() {
            return Err(bad(format!(
                "a field of {n} bytes runs past the end of its message ({} bytes left)",
                self.buf.len()
            )));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], ApiError> {
        let n = self.varint()?;
        self.take(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn string(&mut self, path: &str) -> Result<String, ApiError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| bad(format!("field {path} is not valid UTF-8")))
    }

    pub(super) fn fixed64(&mut self) -> Result<u64, ApiError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    /// Skips one value of the given wire type.
    pub(super) fn skip(&mut self, wire: u8) -> Result<(), ApiError> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.take(8).map(drop),
            2 => self.bytes().map(drop),
            5 => self.take(4).map(drop),
            w => Err(bad(format!("unsupported wire type {w}"))),
        }
    }
}
