//! An HDF5 file read from bytes in memory, in place: a `.keras` archive's `model.weights.h5`,
//! mapped where the archive stores it, or decompressed.
//!
//! The HDF5 library copies a file image into memory of its own unless it is given callbacks
//! that manage the image. These hand it the caller's bytes as its "copy" and refuse every copy,
//! growth or release, so the core driver reads datasets straight from the bytes, and never
//! outside them (it bounds every read by the image's length).

use std::ffi::{c_void, CString};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicU64, Ordering};

use hdf5::file::FileCloseDegree;
use hdf5::plist::FileAccess;
use hdf5_sys::h5::herr_t;
use hdf5_sys::h5f::{H5Fopen, H5F_ACC_RDONLY};
use hdf5_sys::h5fd::{H5FD_file_image_callbacks_t, H5FD_file_image_op_t};
use hdf5_sys::h5p::{H5Pset_file_image, H5Pset_file_image_callbacks};
use libc::size_t;

/// The bytes of an HDF5 file held in memory.
pub(crate) enum ImageBytes {
    /// Part of a file mapped read-only (the archive's stored member).
    Mapped(memmap2::Mmap),
    /// Bytes of our own (a member that had to be decompressed).
    Owned(Vec<u8>),
}

impl Deref for ImageBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ImageBytes::Mapped(map) => map,
            ImageBytes::Owned(bytes) => bytes,
        }
    }
}

impl ImageBytes {
    /// Drops the mapped pages read so far from this process's memory; the next read maps them
    /// again from the page cache. Reading a mapped file pages it in as it goes, and those pages
    /// would otherwise stay counted in the process's memory next to the weights read out of them.
    pub(crate) fn release_pages(&self) {
        #[cfg(unix)]
        if let ImageBytes::Mapped(map) = self {
            // SAFETY: the mapping is read-only and backed by a file, so MADV_DONTNEED only
            // unmaps pages that the next access reads back unchanged from the file.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }
}

/// Where the callbacks find the image: its address and length.
struct Image {
    start: *const u8,
    len: usize,
}

/// An HDF5 file open on [`ImageBytes`], which it owns: the file, with every object opened in
/// it, is closed before the bytes go.
pub(crate) struct ImageFile {
    file: ManuallyDrop<hdf5::File>,
    /// The bytes and the callbacks' view of them; leaked if the file cannot be closed.
    owner: Option<(ImageBytes, Box<Image>)>,
}

impl ImageFile {
    /// Opens `bytes` read-only; `name` identifies the file to the HDF5 library, which must
    /// not find a file of that name on disk (a path under the archive file does not exist).
    pub(crate) fn open(bytes: ImageBytes, name: &str) -> hdf5::Result<ImageFile> {
        let image = Box::new(Image {
            start: bytes.as_ptr(),
            len: bytes.len(),
        });
        let file = open_image(&image, name)?;
        Ok(ImageFile {
            file: ManuallyDrop::new(file),
            owner: Some((bytes, image)),
        })
    }

    pub(crate) fn bytes(&self) -> &ImageBytes {
        &self.owner.as_ref().expect("owned until dropped").0
    }
}

impl Deref for ImageFile {
    type Target = hdf5::File;

    fn deref(&self) -> &hdf5::File {
        &self.file
    }
}

impl Drop for ImageFile {
    fn drop(&mut self) {
        // SAFETY: `file` is taken once, here, and not used again.
        let file = unsafe { ManuallyDrop::take(&mut self.file) };
        // The strong close degree closes every group and dataset opened in the file too, so
        // nothing reads the bytes after this; should the close fail, they must stay.
        if file.close().is_err() {
            std::mem::forget(self.owner.take());
        }
    }
}

/// Opens the image with the core driver (in memory, no backing file) and the callbacks.
fn open_image(image: &Image, name: &str) -> hdf5::Result<hdf5::File> {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    // The core driver tells files apart by name: two images open at once need two names.
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    let name = CString::new(format!("{name}#{n}").replace('\0', "?"))
        .map_err(|e| hdf5::Error::from(e.to_string()))?;
    let fapl = FileAccess::build()
        .core_options(1 << 16, false)
        .fclose_degree(FileCloseDegree::Strong)
        .finish()?;
    let mut callbacks = H5FD_file_image_callbacks_t {
        image_malloc: Some(image_malloc),
        image_memcpy: Some(image_memcpy),
        image_realloc: Some(image_realloc),
        image_free: Some(image_free),
        udata_copy: Some(udata_copy),
        udata_free: Some(udata_free),
        udata: image as *const Image as *mut c_void,
    };
    let id = hdf5::sync::sync(|| {
        // SAFETY: the callbacks only hand out `image`, which outlives the property list and the
        // file (ImageFile closes the file before dropping it); the library reads the image and
        // never writes it, as the file is opened read-only and every copy into it is refused.
        unsafe {
            hdf5::h5check(H5Pset_file_image_callbacks(fapl.id(), &mut callbacks))?;
            hdf5::h5check(H5Pset_file_image(
                fapl.id(),
                image.start as *mut c_void,
                image.len,
            ))?;
            hdf5::h5check(H5Fopen(name.as_ptr(), H5F_ACC_RDONLY, fapl.id()))
        }
    })?;
    // SAFETY: `id` is a file id just opened, owned by nothing else.
    unsafe { hdf5::from_id::<hdf5::File>(id) }
}

/// SAFETY (all callbacks): `udata` is the `Image` given with them, alive while they are set.
fn image_of<'a>(udata: *mut c_void) -> &'a Image {
    // SAFETY: see above.
    unsafe { &*(udata as *const Image) }
}

/// The library's "allocation" of an image is the image itself.
extern "C" fn image_malloc(
    size: size_t,
    _: H5FD_file_image_op_t,
    udata: *mut c_void,
) -> *mut c_void {
    let image = image_of(udata);
    if size == image.len {
        image.start as *mut c_void
    } else {
        null_mut()
    }
}

/// Every copy the library asks for is of the image onto itself, after [`image_malloc`]; any
/// other would write into read-only memory, and is refused.
extern "C" fn image_memcpy(
    dest: *mut c_void,
    src: *const c_void,
    size: size_t,
    _: H5FD_file_image_op_t,
    udata: *mut c_void,
) -> *mut c_void {
    let image = image_of(udata);
    let start = image.start as *const c_void;
    if std::ptr::eq(dest, start) && std::ptr::eq(src, start) && size == image.len {
        dest
    } else {
        null_mut()
    }
}

/// A read-only image never grows.
extern "C" fn image_realloc(
    _: *mut c_void,
    _: size_t,
    _: H5FD_file_image_op_t,
    _: *mut c_void,
) -> *mut c_void {
    null_mut()
}

/// The bytes belong to [`ImageFile`], which frees them after the file is closed.
extern "C" fn image_free(_: *mut c_void, _: H5FD_file_image_op_t, _: *mut c_void) -> herr_t {
    0
}

/// Every property list and file opened with the callbacks shares the one `Image`.
unsafe extern "C" fn udata_copy(udata: *mut c_void) -> *mut c_void {
    udata
}

unsafe extern "C" fn udata_free(_: *mut c_void) -> herr_t {
    0
}
