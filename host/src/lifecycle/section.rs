//! The fixture cases travel inside the component they test, as a custom
//! section: one artifact, one content hash, nothing to keep in step.
//!
//! A custom section (id 0) may appear between any two sections of a core
//! module or a component, and runtimes skip it, so appending one leaves
//! the component's meaning alone. Only the top level is read here: a
//! nested module's sections are inside a section's payload and skipped
//! whole.

use anyhow::{Context as _, bail};

/// The name of the section that holds a plugin's fixture cases.
pub const FIXTURES_SECTION: &str = "conduit:fixtures";

/// The magic and version of every wasm binary, then its layer (`1` is a
/// component, `0` a core module).
const MAGIC: &[u8; 4] = b"\0asm";

/// The payload of the first top-level custom section called `name`.
pub fn custom_section<'a>(wasm: &'a [u8], name: &str) -> anyhow::Result<Option<&'a [u8]>> {
    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        bail!("not a wasm binary: it does not start with `\\0asm`");
    }
    let mut rest = &wasm[8..];
    while !rest.is_empty() {
        let id = rest[0];
        let (size, used) = leb128(&rest[1..]).context("a section's size is malformed")?;
        let start = 1 + used;
        let end = start
            .checked_add(size)
            .filter(|end| *end <= rest.len())
            .context("a section runs past the end of the binary")?;
        let payload = &rest[start..end];
        if id == 0 {
            let (len, used) = leb128(payload).context("a custom section's name is malformed")?;
            let section_name = payload
                .get(used..used + len)
                .context("a custom section's name runs past its end")?;
            if section_name == name.as_bytes() {
                return Ok(Some(&payload[used + len..]));
            }
        }
        rest = &rest[end..];
    }
    Ok(None)
}

/// `wasm` with a custom section `name` holding `payload` appended.
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = leb128_bytes(name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);

    let mut out = Vec::with_capacity(wasm.len() + body.len() + 8);
    out.extend_from_slice(wasm);
    out.push(0);
    out.extend(leb128_bytes(body.len()));
    out.extend(body);
    out
}

/// An unsigned LEB128 number and how many bytes it took (at most five:
/// section sizes are u32).
fn leb128(bytes: &[u8]) -> anyhow::Result<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = u32::try_from(value).context("a size over 4 GiB")?;
            return Ok((value as usize, i + 1));
        }
    }
    bail!("an unterminated LEB128 number")
}

fn leb128_bytes(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty component: the magic, version 0x0d and layer 1.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn an_appended_section_reads_back() {
        let payload = vec![7u8; 300];
        let wasm = with_custom_section(EMPTY_COMPONENT, FIXTURES_SECTION, &payload);
        let wasm = with_custom_section(&wasm, "other", b"x");
        assert_eq!(
            custom_section(&wasm, FIXTURES_SECTION).ok().flatten(),
            Some(&payload[..])
        );
        assert_eq!(custom_section(&wasm, "missing").ok().flatten(), None);
    }

    #[test]
    fn a_truncated_binary_is_an_error() {
        let wasm = with_custom_section(EMPTY_COMPONENT, FIXTURES_SECTION, b"payload");
        assert!(custom_section(&wasm[..wasm.len() - 2], FIXTURES_SECTION).is_err());
        assert!(custom_section(b"nope", FIXTURES_SECTION).is_err());
    }
}
