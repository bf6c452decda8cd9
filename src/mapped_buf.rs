//! A growable byte buffer in an anonymous memory mapping of its own, for the few
//! buffers of a connection that can reach tens of MiB (an OVSDB message being
//! assembled, up to its 32 MiB cap).
//!
//! Why not the heap: glibc's malloc serves a large block from its own mapping only
//! while the block is above the *dynamic* mmap threshold, and that threshold rises
//! to the size of the largest mapped block freed (up to 32 MiB). After one big free,
//! the next big buffers come from a malloc arena instead, and when they are freed
//! the arena keeps the pages: `malloc_trim` does not give back the top of a thread's
//! arena. Measured on 2026-12-05 (`bench/isolation.bench.js`): an OVSDB reply that
//! never closes still held +12 to +40 MiB of RSS 1 s after the error, with the
//! trims of `node::memory` run; with `MALLOC_MMAP_THRESHOLD_=1048576` (a fixed
//! threshold) it held +0 MiB. The addon lives inside xo-server, so it must not
//! change the process's allocator; instead its large buffers bypass malloc: this
//! buffer is mapped with `mmap`, grown with `mremap` (the kernel moves page tables,
//! not bytes, so growing from 16 to 32 MiB never holds both) and unmapped as soon
//! as it is dropped, whatever malloc's state.
//!
//! Pages of a mapping take memory only once written, so capacity beyond the length
//! costs address space, not RSS. Where there is no `mremap` (outside Linux) or the
//! kernel refuses a mapping, the buffer lives on the heap instead: same behaviour,
//! malloc's memory.
//!
//! The only `unsafe` code outside the napi bindings is here, kept to the four
//! system calls, the slice view, the copy into the mapping and `Send`/`Sync`.

use std::fmt;
use std::ptr::NonNull;

use bytes::Bytes;

/// A byte buffer that grows by doubling, up to `max_capacity` (past it only as far
/// as one write needs), kept in a mapping of its own when the OS allows.
pub struct MappedBuf {
    storage: Storage,
    max_capacity: usize,
}

enum Storage {
    /// `capacity` bytes mapped at `ptr`, the first `len` of them written.
    Mapped { ptr: NonNull<u8>, len: usize, capacity: usize },
    /// Nothing mapped yet (empty `Vec`, no allocation), or the fallback.
    Heap(Vec<u8>),
}

// SAFETY: a `MappedBuf` owns its mapping exclusively, as a `Vec` owns its block:
// nothing else holds the pointer, so moving the buffer to another thread moves
// sole ownership of the pages with it.
unsafe impl Send for MappedBuf {}
// SAFETY: `&MappedBuf` only reads (`as_slice`); every write takes `&mut self`.
unsafe impl Sync for MappedBuf {}

impl MappedBuf {
    /// An empty buffer; nothing is mapped before the first byte is added.
    pub fn new(max_capacity: usize) -> MappedBuf {
        MappedBuf { storage: Storage::Heap(Vec::new()), max_capacity }
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Mapped { len, .. } => *len,
            Storage::Heap(v) => v.len(),
        }
    }

    /// True when nothing is written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes reserved (mapped, or allocated on the fallback heap).
    pub fn capacity(&self) -> usize {
        match &self.storage {
            Storage::Mapped { capacity, .. } => *capacity,
            Storage::Heap(v) => v.capacity(),
        }
    }

    /// True when the bytes are in a mapping of their own (false before the first
    /// byte, outside Linux, and after the kernel refused a mapping).
    pub fn is_mapped(&self) -> bool {
        matches!(self.storage, Storage::Mapped { .. })
    }

    /// The bytes written.
    pub fn as_slice(&self) -> &[u8] {
        match &self.storage {
            // SAFETY: the mapping is readable for `capacity >= len` bytes and stays
            // mapped while `self` is borrowed (only `&mut self` or drop unmaps it);
            // anonymous pages are zero-filled, so every byte is initialized.
            Storage::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
            Storage::Heap(v) => v,
        }
    }

    /// Appends `bytes`, growing the buffer first if needed.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        match &mut self.storage {
            Storage::Mapped { ptr, len, capacity } => {
                debug_assert!(*len + bytes.len() <= *capacity);
                // SAFETY: `reserve` made room: `len + bytes.len() <= capacity`, all
                // mapped and writable. `bytes` cannot overlap the mapping: it would
                // have to be borrowed from `self`, which is borrowed mutably here.
                unsafe { ptr.as_ptr().add(*len).copy_from_nonoverlapping(bytes.as_ptr(), bytes.len()) };
                *len += bytes.len();
            }
            Storage::Heap(v) => v.extend_from_slice(bytes),
        }
    }

    /// Makes room for `additional` more bytes: the capacity doubles (or grows to
    /// what is needed, if more), never past `max_capacity` unless this write needs it.
    pub fn reserve(&mut self, additional: usize) {
        let len = self.len();
        let need = len.saturating_add(additional);
        let capacity = self.capacity();
        if need <= capacity {
            return;
        }
        let target = need.max(capacity.saturating_mul(2)).min(self.max_capacity.max(need));
        match &mut self.storage {
            Storage::Heap(v) if v.capacity() == 0 => {
                self.storage = match os::map(target) {
                    Some(ptr) => Storage::Mapped { ptr, len: 0, capacity: target },
                    None => Storage::Heap(Vec::with_capacity(target)),
                };
            }
            Storage::Heap(v) => v.reserve_exact(target - v.len()),
            Storage::Mapped { ptr, len, capacity } => {
                // SAFETY: `ptr` and `capacity` describe our live mapping exactly, and
                // nothing borrows it (we hold `&mut self`).
                match unsafe { os::remap(*ptr, *capacity, target) } {
                    Some(moved) => {
                        *ptr = moved;
                        *capacity = target;
                    }
                    None => {
                        // The kernel refused (out of address space or map count):
                        // carry on on the heap, as outside Linux.
                        let mut v = Vec::with_capacity(target);
                        // SAFETY: as in `as_slice`: `len` initialized bytes at `ptr`.
                        v.extend_from_slice(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) });
                        // SAFETY: our live mapping, not used again: replaced just below.
                        unsafe { os::unmap(*ptr, *capacity) };
                        self.storage = Storage::Heap(v);
                    }
                }
            }
        }
    }

    /// The bytes as [`Bytes`], without copying: a mapping is first shrunk to the
    /// pages the bytes use, and is unmapped when the last `Bytes` sharing it drops.
    pub fn into_bytes(mut self) -> Bytes {
        match &mut self.storage {
            Storage::Heap(v) => Bytes::from(std::mem::take(v)),
            Storage::Mapped { len: 0, .. } => Bytes::new(),
            Storage::Mapped { ptr, len, capacity } => {
                // SAFETY: our live mapping; shrinking keeps the first `len` bytes where
                // they are (no move is allowed), and the tail is not used afterwards.
                if unsafe { os::shrink(*ptr, *capacity, *len) } {
                    *capacity = *len;
                }
                Bytes::from_owner(self)
            }
        }
    }
}

impl AsRef<[u8]> for MappedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Drop for MappedBuf {
    fn drop(&mut self) {
        if let Storage::Mapped { ptr, capacity, .. } = self.storage {
            // SAFETY: our live mapping, never used again.
            unsafe { os::unmap(ptr, capacity) };
        }
    }
}

impl fmt::Debug for MappedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedBuf")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// Bytes mapped by buffers of this thread and not unmapped yet, for the tests
/// (each runs on a thread of its own) to see a mapping go as soon as its owner.
#[cfg(test)]
pub(crate) fn mapped_by_this_thread() -> usize {
    MAPPED_BY_THIS_THREAD.with(std::cell::Cell::get)
}

#[cfg(test)]
thread_local! {
    static MAPPED_BY_THIS_THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Records a mapping's change of size (tests only).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn count_mapped(from: usize, to: usize) {
    #[cfg(test)]
    MAPPED_BY_THIS_THREAD.with(|c| c.set(c.get() + to - from));
    let _ = (from, to);
}

/// The system calls. Lengths need not be multiples of the page size: the kernel
/// rounds each one up, the same way for `mmap`, `mremap` and `munmap`.
#[cfg(target_os = "linux")]
mod os {
    use std::ptr::{null_mut, NonNull};

    /// A new private, zero-filled, read-write mapping of `len` bytes.
    pub(super) fn map(len: usize) -> Option<NonNull<u8>> {
        if len == 0 {
            return None;
        }
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: no address is requested and the mapping is anonymous: the kernel
        // picks a range no one uses, so no existing memory is affected.
        let p = unsafe { libc::mmap(null_mut(), len, prot, flags, -1, 0) };
        if p == libc::MAP_FAILED {
            return None;
        }
        super::count_mapped(0, len);
        NonNull::new(p.cast())
    }

    /// Grows the mapping to `new_len`, moving it if it must (its contents go with
    /// it). `None`: refused, and the old mapping is untouched.
    ///
    /// # Safety
    /// `ptr` must start a live mapping of `len` bytes made by [`map`] that nothing
    /// else refers to: on success the old address is no longer valid.
    pub(super) unsafe fn remap(ptr: NonNull<u8>, len: usize, new_len: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller's promise: our own mapping, with its exact length.
        let p = unsafe { libc::mremap(ptr.as_ptr().cast(), len, new_len, libc::MREMAP_MAYMOVE) };
        if p == libc::MAP_FAILED {
            return None;
        }
        super::count_mapped(len, new_len);
        NonNull::new(p.cast())
    }

    /// Gives back the pages past the first `new_len` bytes, in place (`new_len` > 0).
    ///
    /// # Safety
    /// As for [`remap`]; the bytes past `new_len` must not be used afterwards.
    pub(super) unsafe fn shrink(ptr: NonNull<u8>, len: usize, new_len: usize) -> bool {
        // SAFETY: the caller's promise. Without MREMAP_MAYMOVE a shrink stays where it is.
        let shrunk = unsafe { libc::mremap(ptr.as_ptr().cast(), len, new_len, 0) } != libc::MAP_FAILED;
        if shrunk {
            super::count_mapped(len, new_len);
        }
        shrunk
    }

    /// Unmaps the mapping.
    ///
    /// # Safety
    /// `ptr` must start a live mapping of `len` bytes made by [`map`], never used again.
    pub(super) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
        // SAFETY: the caller's promise. It cannot fail for a whole mapping of ours.
        unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
        super::count_mapped(len, 0);
    }
}

/// No `mremap` outside Linux: the buffer stays on the heap.
#[cfg(not(target_os = "linux"))]
mod os {
    use std::ptr::NonNull;

    pub(super) fn map(_len: usize) -> Option<NonNull<u8>> {
        None
    }

    pub(super) unsafe fn remap(_ptr: NonNull<u8>, _len: usize, _new_len: usize) -> Option<NonNull<u8>> {
        None
    }

    pub(super) unsafe fn shrink(_ptr: NonNull<u8>, _len: usize, _new_len: usize) -> bool {
        false
    }

    pub(super) unsafe fn unmap(_ptr: NonNull<u8>, _len: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that differ from page to page, so a remap that lost or shifted a page shows.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add((i >> 12) as u8).wrapping_add(seed)).collect()
    }

    #[test]
    fn nothing_is_mapped_before_the_first_byte() {
        let b = MappedBuf::new(1 << 20);
        assert_eq!((b.len(), b.capacity(), b.is_mapped()), (0, 0, false));
        assert!(b.as_slice().is_empty());
        assert!(b.into_bytes().is_empty());
    }

    #[test]
    fn grows_by_doubling_and_keeps_its_contents_across_remaps() {
        let mut b = MappedBuf::new(64 << 20);
        let mut want = Vec::new();
        let mut capacities = Vec::new();
        // 40,000-byte writes (not a page multiple) up to 20 MiB: 9 remaps.
        for i in 0..524 {
            let chunk = pattern(40_000, i as u8);
            b.extend_from_slice(&chunk);
            want.extend_from_slice(&chunk);
            if capacities.last() != Some(&b.capacity()) {
                capacities.push(b.capacity());
            }
        }
        assert_eq!(b.len(), want.len());
        assert!(b.as_slice() == want.as_slice(), "contents changed across a remap");
        assert_eq!(capacities.first(), Some(&40_000));
        assert!(capacities.windows(2).all(|w| w[1] == 2 * w[0]), "{capacities:?}");
        assert_eq!(b.is_mapped(), cfg!(target_os = "linux"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn contents_survive_a_remap_that_must_move() {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).expect("page size");
        let first = pattern(1 << 20, 11);
        let second = pattern(1 << 20, 12);
        // A page of ours just past the buffer, so that it cannot grow in place. The
        // kernel puts a mapping in the highest gap it fits: map the buffer's size plus
        // a page, unmap all but the top page, and the buffer usually takes the space
        // freed. (Other tests map meanwhile: retry until it does.)
        for _ in 0..100 {
            let prot = libc::PROT_READ;
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
            // SAFETY: no address requested: the kernel picks an unused range.
            let area = unsafe { libc::mmap(std::ptr::null_mut(), first.len() + page, prot, flags, -1, 0) };
            assert_ne!(area, libc::MAP_FAILED);
            // SAFETY: the start of the mapping just made, unused.
            unsafe { libc::munmap(area, first.len()) };
            let blocker = area as usize + first.len();
            let mut b = MappedBuf::new(64 << 20);
            b.extend_from_slice(&first);
            let before = b.as_slice().as_ptr();
            let adjacent = before as usize + b.capacity() == blocker;
            if adjacent {
                b.extend_from_slice(&second);
                assert_ne!(b.as_slice().as_ptr(), before, "grew in place over our page");
                assert!(b.is_mapped());
                assert!(b.as_slice()[..first.len()] == first[..] && b.as_slice()[first.len()..] == second[..]);
            }
            // SAFETY: the page left mapped above, used by nothing.
            unsafe { libc::munmap(blocker as *mut libc::c_void, page) };
            if adjacent {
                return;
            }
        }
        panic!("could not map a page right past the buffer");
    }

    #[test]
    fn doubling_stops_at_the_cap_and_only_a_write_that_needs_more_passes_it() {
        let cap = 3 << 20;
        let mut b = MappedBuf::new(cap);
        b.extend_from_slice(&pattern(1 << 20, 1));
        b.extend_from_slice(&pattern(1 << 20, 2));
        assert_eq!(b.capacity(), 2 << 20);
        b.extend_from_slice(&pattern(1, 3));
        assert_eq!(b.capacity(), cap, "doubled past the cap");
        b.extend_from_slice(&pattern(cap - b.len(), 4));
        assert_eq!((b.len(), b.capacity()), (cap, cap));
        // A write past the cap gets exactly the room it needs.
        b.extend_from_slice(&pattern(10, 5));
        assert_eq!(b.capacity(), cap + 10);
        let mut want = pattern(1 << 20, 1);
        want.extend(pattern(1 << 20, 2));
        want.extend(pattern(1, 3));
        want.extend(pattern(cap - want.len(), 4));
        want.extend(pattern(10, 5));
        assert!(b.as_slice() == want.as_slice());
    }

    #[test]
    fn into_bytes_shrinks_the_mapping_and_keeps_the_bytes() {
        let mut b = MappedBuf::new(32 << 20);
        let want = pattern(5 << 20, 7);
        b.extend_from_slice(&want);
        b.reserve(20 << 20);
        assert!(b.capacity() >= 25 << 20);
        let bytes = b.into_bytes();
        assert!(bytes == want.as_slice());
        // Shared slices keep the mapping; the last one unmaps it (run under a
        // sanitizer or valgrind, a double unmap or a use after unmap shows here).
        let tail = bytes.slice(4 << 20..);
        drop(bytes);
        assert!(tail == want[4 << 20..]);
        drop(tail);
    }

    #[test]
    fn the_mapping_goes_when_the_buffer_or_its_last_bytes_goes() {
        let mut b = MappedBuf::new(64 << 20);
        b.extend_from_slice(&pattern(3 << 20, 9));
        b.reserve(30 << 20);
        let mapped = if cfg!(target_os = "linux") { b.capacity() } else { 0 };
        assert_eq!(mapped_by_this_thread(), mapped);
        drop(b);
        assert_eq!(mapped_by_this_thread(), 0);

        let mut b = MappedBuf::new(64 << 20);
        b.extend_from_slice(&pattern(3 << 20, 9));
        b.reserve(30 << 20);
        let bytes = b.into_bytes();
        let mapped = if cfg!(target_os = "linux") { 3 << 20 } else { 0 };
        assert_eq!(mapped_by_this_thread(), mapped, "not shrunk to its bytes");
        let head = bytes.slice(..10);
        drop(bytes);
        assert_eq!(mapped_by_this_thread(), mapped);
        drop(head);
        assert_eq!(mapped_by_this_thread(), 0);
    }
}
