//! Output buffers that parallel tasks fill without their being zeroed first.
//!
//! `vec![0.0; n]` zeroes a buffer on the thread that asks for it, before the tasks that
//! overwrite every value start. In a reduced-precision encoder on 2 cores that memset
//! was ~4% of the samples, with the other core idle meanwhile: here the writers get
//! the values uninitialised and the buffer becomes a `Vec` once they have written all.

use std::mem::MaybeUninit;

/// The `len` values that `write` writes into the slice it is given, uninitialised.
///
/// A panic in `write` leaves nothing to read: the vector is dropped empty.
///
/// # Safety
/// `write` must write every value of the slice before it returns.
pub unsafe fn filled_by<T>(len: usize, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut values = Vec::with_capacity(len);
    write(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: the capacity is `len`, and `write` has written all of it (the caller's
    // promise).
    unsafe { values.set_len(len) };
    values
}

/// Views initialised values as values a writer may overwrite.
///
/// # Safety
/// The writer must leave every value initialised: it may write values, never
/// `MaybeUninit::uninit()`.
pub unsafe fn as_unwritten<T>(values: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout; the caller keeps the values initialised.
    unsafe { &mut *(values as *mut [T] as *mut [MaybeUninit<T>]) }
}
