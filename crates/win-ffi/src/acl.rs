//! A file or directory's access list (DACL), set and read in SDDL, the
//! security descriptor language (`D:P(A;OICI;FA;;;SY)` and so on).

use std::io;
use std::path::Path;
use std::ptr;

use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
    SDDL_REVISION_1, SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
};

use crate::wide::{from_wide_ptr, wide};

/// Full control for SYSTEM and Administrators, inherited by every file and
/// directory created inside (`OICI`), and nothing inherited from the parent
/// (`P`, protected): no other account has access.
pub const SYSTEM_AND_ADMINISTRATORS: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

/// A security descriptor the system allocated, freed when dropped.
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Drop for Descriptor {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the descriptor was LocalAlloc'ed by the system for us and is freed once, here.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// Replaces the DACL of `path` with the one in `sddl` (a `D:` string),
/// protected from inheritance when the string says `P`. Files and
/// directories already inside get the inheritable entries.
pub fn set_dacl(path: &Path, sddl: &str) -> io::Result<()> {
    let text = wide(sddl)?;
    let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: `text` is NUL-terminated; `descriptor` is a valid place for the result; the size is not wanted.
    let ok =
        unsafe { ConvertStringSecurityDescriptorToSecurityDescriptorW(text.as_ptr(), SDDL_REVISION_1, &mut descriptor, ptr::null_mut()) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let descriptor = Descriptor(descriptor);
    let (mut present, mut defaulted) = (0, 0);
    let mut dacl: *mut ACL = ptr::null_mut();
    // SAFETY: the descriptor is valid (just made); the three out pointers are valid places.
    let ok = unsafe { GetSecurityDescriptorDacl(descriptor.0, &mut present, &mut dacl, &mut defaulted) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    if present == 0 || dacl.is_null() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the SDDL string has no DACL"));
    }
    let protected = if sddl.starts_with("D:P") {
        PROTECTED_DACL_SECURITY_INFORMATION
    } else {
        0
    };
    let name = wide(path.as_os_str())?;
    // SAFETY: `name` is NUL-terminated; `dacl` points into `descriptor`, alive until after the call;
    // owner, group and SACL are null as only the DACL is set.
    let code = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | protected,
            ptr::null_mut(),
            ptr::null_mut(),
            dacl,
            ptr::null(),
        )
    };
    drop(descriptor);
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code as i32))
    }
}

/// The DACL of `path` in SDDL, as the system reports it (e.g.
/// `D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)`).
pub fn dacl(path: &Path) -> io::Result<String> {
    let name = wide(path.as_os_str())?;
    let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: `name` is NUL-terminated; owner, group, DACL and SACL pointers are not wanted (null);
    // `descriptor` is a valid place for the LocalAlloc'ed result.
    let code = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut descriptor,
        )
    };
    if code != 0 {
        return Err(io::Error::from_raw_os_error(code as i32));
    }
    let descriptor = Descriptor(descriptor);
    let mut text: *mut u16 = ptr::null_mut();
    // SAFETY: the descriptor is valid; `text` is a valid place for the LocalAlloc'ed string; its length is not wanted.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor.0,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let text = Descriptor(text.cast());
    // SAFETY: on success the system wrote a NUL-terminated string there, alive until `text` is dropped.
    Ok(unsafe { from_wide_ptr(text.0.cast()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_gets_the_protected_dacl_and_reads_it_back() {
        let dir = std::env::temp_dir().join(format!("win-ffi-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        set_dacl(&dir, SYSTEM_AND_ADMINISTRATORS).unwrap();
        let read = dacl(&dir).unwrap();
        assert!(read.starts_with("D:"), "{read}");
        if crate::under_wine() {
            // Wine 8 accepts the DACL but keeps none: it reports one made from the Unix mode.
            assert!(read.contains(";;;SY)"), "{read}");
        } else {
            assert!(read.starts_with("D:P"), "{read}");
            assert!(read.contains("(A;OICI;FA;;;SY)"), "{read}");
            assert!(read.contains("(A;OICI;FA;;;BA)"), "{read}");
            assert_eq!(read.matches("(A;").count(), 2, "no other entry: {read}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
