//! Telling a string literal apart from text built at run time, for bridges whose front end
//! hands a message over only as text (`tracing` gives a `&dyn Debug` for `format_args!`).
//!
//! A literal's bytes live in a loaded object's read-only segment (`.rodata`), so a string
//! whose bytes all lie in a non-writable `PT_LOAD` segment of an object the dynamic loader
//! lists cannot change while that object stays loaded. A bridge may then register its text as
//! the callsite's format once and, on later calls, compare only the pointer and length of the
//! text it is handed: the same address and length in immutable memory is the same text.

/// `s` with a `'static` lifetime if all its bytes lie in a read-only segment of a loaded
/// object (see the module docs), else `None` (also on platforms without `dl_iterate_phdr`:
/// bridges then send the text as an argument, which is only slower). Walks the loader's
/// list of objects: meant for the first call of a callsite, not for every call.
///
/// The answer holds while the object stays loaded: a bridge keys its cache by callsites that
/// live in the same object (`tracing` callsites are `'static` too), so unloading the object
/// (`dlclose`) while its callsites are in use breaks the front end before the bridge.
pub fn static_text(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return None;
    }
    if !in_read_only_segment(s.as_ptr() as usize, s.len()) {
        return None;
    }
    // SAFETY: the bytes lie in a non-writable segment of a loaded object: they are the
    // object's constant data, which nothing writes and which stays mapped while the object is
    // loaded (see the doc comment for the `dlclose` caveat). So they stay valid, unchanged
    // UTF-8 (they were a `&str`) for as long as the callers use them.
    Some(unsafe {
        core::str::from_utf8_unchecked(core::slice::from_raw_parts(s.as_ptr(), s.len()))
    })
}

#[cfg(all(
    target_os = "linux",
    any(target_pointer_width = "64", target_pointer_width = "32")
))]
fn in_read_only_segment(addr: usize, len: usize) -> bool {
    struct Query {
        start: usize,
        end: usize,
        found: bool,
    }

    /// `dl_iterate_phdr`'s callback.
    ///
    /// # Safety
    ///
    /// `info` must point at a valid `dl_phdr_info` and `data` at a `Query` nobody else uses
    /// during the call (as `dl_iterate_phdr` guarantees for the arguments given below).
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `&mut Query` passed to `dl_iterate_phdr` below, alive for the
        // whole iteration and used by nobody else meanwhile.
        let q = unsafe { &mut *(data as *mut Query) };
        // SAFETY: the loader passes a valid `dl_phdr_info` for the duration of the callback.
        let info = unsafe { &*info };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers of a loaded object.
        let phdrs =
            unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        for ph in phdrs {
            if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 {
                continue;
            }
            let lo = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
            let hi = lo.wrapping_add(ph.p_memsz as usize);
            if lo <= q.start && q.end <= hi {
                q.found = true;
                return 1; // stop iterating
            }
        }
        0
    }

    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    let mut q = Query {
        start: addr,
        end,
        found: false,
    };
    // SAFETY: `visit` matches the callback type and only reads the headers it is given;
    // `data` points at `q`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut q as *mut Query as *mut libc::c_void) };
    q.found
}

#[cfg(not(all(
    target_os = "linux",
    any(target_pointer_width = "64", target_pointer_width = "32")
)))]
fn in_read_only_segment(_addr: usize, _len: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_is_static_text_and_built_text_is_not() {
        let lit = "a literal in .rodata";
        assert_eq!(static_text(lit).map(|s| s.as_ptr()), Some(lit.as_ptr()));
        let built = format!("built {}", 7);
        assert_eq!(static_text(&built), None, "heap text");
        let mut stack = *b"on the stack";
        let on_stack = core::str::from_utf8_mut(&mut stack).unwrap();
        assert_eq!(static_text(on_stack), None, "stack text");
        static mut WRITABLE: [u8; 8] = *b"writable";
        // SAFETY: read once, on this thread only.
        let w = unsafe { &*core::ptr::addr_of!(WRITABLE) };
        assert_eq!(
            static_text(core::str::from_utf8(w).unwrap()),
            None,
            "a `static mut` lives in a writable segment"
        );
        assert_eq!(static_text(""), None);
    }
}
