//! Inflating gzip layers (every member, as `MultiGzDecoder` does) for the readers that must see
//! every byte of a layer, such as the image filesystem scanners read. Inflate bounds a scan:
//! zlib-rs reads a 170 MB tar in about 0.42 s here, ISA-L (Intel's igzip, `libisal.so.2`) in
//! about 0.2 s. ISA-L is used when hangar was built with its header (build.rs) and the library
//! is installed; otherwise, or with `HANGAR_INFLATE=zlib`, zlib-rs. Both check each member's
//! CRC-32 and size.

use std::io::Read;

/// Which inflater [`decoder`] uses in this process.
pub fn inflater() -> &'static str {
    #[cfg(hangar_isal)]
    if isal::library().is_some() {
        return "ISA-L";
    }
    "zlib-rs"
}

/// A reader of the inflated bytes of the gzip stream `inner` (all its members).
pub fn decoder<'a, R: Read + 'a>(inner: R) -> Box<dyn Read + 'a> {
    #[cfg(hangar_isal)]
    if let Some(library) = isal::library() {
        return Box::new(isal::Decoder::new(library, inner));
    }
    Box::new(flate2::read::MultiGzDecoder::new(inner))
}

#[cfg(hangar_isal)]
mod isal {
    use std::alloc::Layout;
    use std::io::{self, Read};
    use std::sync::OnceLock;

    type InitFn = unsafe extern "C" fn(*mut u8);
    type InflateFn = unsafe extern "C" fn(*mut u8) -> i32;

    unsafe extern "C" {
        fn hangar_isal_state_size() -> usize;
        fn hangar_isal_state_align() -> usize;
        fn hangar_isal_reset(state: *mut u8, init: InitFn);
        #[allow(clippy::too_many_arguments)]
        fn hangar_isal_step(
            state: *mut u8,
            inflate: InflateFn,
            input: *const u8,
            in_len: u32,
            out: *mut u8,
            out_len: u32,
            consumed: *mut u32,
            produced: *mut u32,
            finished: *mut i32,
        ) -> i32;
    }

    /// The two entry points of an opened libisal.
    pub struct Library {
        init: InitFn,
        inflate: InflateFn,
        /// Keeps the library mapped for the functions above.
        _library: libloading::Library,
    }

    /// libisal.so.2, opened once; `None` when it is not installed or `HANGAR_INFLATE=zlib`.
    pub fn library() -> Option<&'static Library> {
        static LIBRARY: OnceLock<Option<Library>> = OnceLock::new();
        LIBRARY
            .get_or_init(|| {
                if std::env::var("HANGAR_INFLATE").is_ok_and(|v| v == "zlib") {
                    return None;
                }
                // SAFETY: libisal has no initialisers with side effects; the symbols are
                // ISA-L's documented C functions with the signatures declared in igzip_lib.h,
                // and the library stays loaded in the returned value.
                unsafe {
                    let library = libloading::Library::new("libisal.so.2").ok()?;
                    let init = *library.get::<InitFn>(b"isal_inflate_init\0").ok()?;
                    let inflate = *library.get::<InflateFn>(b"isal_inflate\0").ok()?;
                    Some(Library {
                        init,
                        inflate,
                        _library: library,
                    })
                }
            })
            .as_ref()
    }

    /// ISA-L's `inflate_state`, allocated with the size and alignment the header gives.
    struct State {
        pointer: *mut u8,
        layout: Layout,
    }

    impl State {
        fn new() -> State {
            // SAFETY: plain queries of sizeof/alignof compiled from the header.
            let (size, align) = unsafe { (hangar_isal_state_size(), hangar_isal_state_align()) };
            let layout = Layout::from_size_align(size, align).expect("inflate_state layout");
            // SAFETY: the layout has a non-zero size (the state is kilobytes); zeroed memory
            // is what isal_inflate_init expects to start from.
            let pointer = unsafe { std::alloc::alloc_zeroed(layout) };
            if pointer.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            State { pointer, layout }
        }
    }

    impl Drop for State {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.pointer, self.layout) }
        }
    }

    // SAFETY: the state is owned by one decoder and only touched through `&mut self`.
    unsafe impl Send for State {}

    const INPUT: usize = 256 << 10;

    pub struct Decoder<R> {
        library: &'static Library,
        inner: R,
        state: State,
        input: Vec<u8>,
        start: usize,
        end: usize,
        eof: bool,
        /// The current member is complete (its trailer checked); more input starts another.
        member_done: bool,
        /// At least one member has started (an empty stream is an error, as for flate2).
        started: bool,
    }

    impl<R: Read> Decoder<R> {
        pub fn new(library: &'static Library, inner: R) -> Decoder<R> {
            let state = State::new();
            // SAFETY: `state` is a zeroed allocation of the header's inflate_state.
            unsafe { hangar_isal_reset(state.pointer, library.init) };
            Decoder {
                library,
                inner,
                state,
                input: vec![0; INPUT],
                start: 0,
                end: 0,
                eof: false,
                member_done: false,
                started: false,
            }
        }

        /// More input after what is left; false at the end of `inner`.
        fn fill(&mut self) -> io::Result<bool> {
            if self.start > 0 {
                self.input.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.input.len() {
                return Ok(true);
            }
            loop {
                match self.inner.read(&mut self.input[self.end..]) {
                    Ok(0) => {
                        self.eof = true;
                        return Ok(false);
                    }
                    Ok(n) => {
                        self.end += n;
                        return Ok(true);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }

    fn invalid(status: i32) -> io::Error {
        let what = match status {
            -1 => "invalid deflate block",
            -2 => "invalid deflate symbol",
            -3 => "invalid lookback distance",
            -4 => "invalid gzip header",
            -5 => "unsupported compression method",
            -6 => "gzip checksum mismatch (corrupt data)",
            _ => "corrupt gzip stream",
        };
        io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {what}"))
    }

    impl<R: Read> Read for Decoder<R> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if out.is_empty() {
                return Ok(0);
            }
            let out_len = out.len().min(u32::MAX as usize);
            loop {
                if self.start == self.end && !self.eof {
                    self.fill()?;
                }
                if self.member_done {
                    if self.start == self.end {
                        if self.eof {
                            return Ok(0);
                        }
                        continue;
                    }
                    // Another member follows (concatenated gzip streams).
                    // SAFETY: the state belongs to this decoder.
                    unsafe { hangar_isal_reset(self.state.pointer, self.library.init) };
                    self.member_done = false;
                }
                if self.start == self.end && self.eof {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        if self.started {
                            "gzip: the stream ends before its last member does"
                        } else {
                            "gzip: empty stream"
                        },
                    ));
                }
                self.started = true;
                let (mut consumed, mut produced, mut finished) = (0u32, 0u32, 0i32);
                let available = &self.input[self.start..self.end];
                // SAFETY: the input and output pointers are valid for the lengths given for
                // the duration of the call; ISA-L copies what it keeps into its state.
                let status = unsafe {
                    hangar_isal_step(
                        self.state.pointer,
                        self.library.inflate,
                        available.as_ptr(),
                        available.len() as u32,
                        out.as_mut_ptr(),
                        out_len as u32,
                        &mut consumed,
                        &mut produced,
                        &mut finished,
                    )
                };
                if status < 0 {
                    return Err(invalid(status));
                }
                self.start += consumed as usize;
                if finished != 0 {
                    self.member_done = true;
                }
                if produced > 0 {
                    return Ok(produced as usize);
                }
                if !self.member_done && consumed == 0 {
                    // ISA-L wants more than is buffered before it can give anything.
                    let buffered = self.end - self.start;
                    if !self.eof {
                        self.fill()?;
                    }
                    if self.end - self.start == buffered {
                        // Nothing more to give it: the input ended, or a full buffer did not
                        // move it (which a valid stream never does).
                        return Err(if self.eof {
                            io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "gzip: the stream ends before its last member does",
                            )
                        } else {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                "gzip: the inflater makes no progress (corrupt stream)",
                            )
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Bytes that compress somewhat, like a tar of files.
    fn sample(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                if (i / 4096) % 3 == 0 {
                    b"usr/share/doc/"[i % 14]
                } else {
                    (state >> 56) as u8
                }
            })
            .collect()
    }

    /// The inflaters this build has: zlib-rs always, ISA-L when built with it and installed.
    fn inflaters() -> Vec<&'static str> {
        #[allow(unused_mut)]
        let mut found = vec!["zlib-rs"];
        #[cfg(hangar_isal)]
        if isal::library().is_some() {
            found.push("ISA-L");
        }
        found
    }

    /// Reads with small, odd buffers too, so member and buffer edges fall everywhere.
    fn inflate(stream: &[u8], chunk: usize, inflater: &str) -> std::io::Result<Vec<u8>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let source = Trickle(stream, chunk);
        let mut reader: Box<dyn Read> = match inflater {
            #[cfg(hangar_isal)]
            "ISA-L" => Box::new(isal::Decoder::new(isal::library().unwrap(), source)),
            _ => Box::new(flate2::read::MultiGzDecoder::new(source)),
        };
        let mut out = Vec::new();
        let mut buf = vec![0; chunk.max(1)];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn every_member_inflates_and_damage_is_an_error() {
        eprintln!("inflaters: {:?}, used: {}", inflaters(), inflater());
        let (a, b) = (sample(3 << 20, 1), sample(100_000, 2));
        let mut stream = gzip(&a, 1);
        stream.extend(gzip(b"", 6));
        stream.extend(gzip(&b, 9));
        let mut whole = a.clone();
        whole.extend(&b);
        let single = gzip(&b, 6);
        let mut flipped = single.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x10;
        let mut bad_crc = single.clone();
        let crc = bad_crc.len() - 8;
        bad_crc[crc] ^= 1;
        for inflater in inflaters() {
            for chunk in [1 << 20, 65_536, 4_099] {
                assert_eq!(
                    inflate(&stream, chunk, inflater).unwrap(),
                    whole,
                    "{inflater}, chunk {chunk}"
                );
            }
            // Byte-sized reads and writes over a member of its own.
            assert_eq!(inflate(&single, 7, inflater).unwrap(), b, "{inflater}");
            // A flipped bit in the data or the trailer, a cut stream, not gzip.
            assert!(inflate(&flipped, 65_536, inflater).is_err(), "{inflater}");
            assert!(inflate(&bad_crc, 65_536, inflater).is_err(), "{inflater}");
            let cut = inflate(&single[..single.len() - 3], 65_536, inflater).unwrap_err();
            assert_eq!(
                cut.kind(),
                std::io::ErrorKind::UnexpectedEof,
                "{inflater}: {cut}"
            );
            assert!(
                inflate(b"not gzip at all", 65_536, inflater).is_err(),
                "{inflater}"
            );
            // Damage anywhere ends in an answer (bytes or an error), never a hang or a panic.
            for at in (0..single.len()).step_by(97) {
                let mut damaged = single.clone();
                damaged[at] ^= 0xa5;
                let _ = inflate(&damaged, 4_099, inflater);
                let _ = inflate(&single[..at], 4_099, inflater);
            }
        }
    }
}
