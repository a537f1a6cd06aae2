//! Safe resolution of a request path under a root folder: the path is
//! percent-decoded once, checked segment by segment and walked with
//! [`Path::components`], then opened beneath the root (`openat2` with
//! `RESOLVE_BENEATH`, or one component at a time), so that symlinks are
//! followed only while they stay under it and the file opened is the one
//! checked.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use percent_encoding::percent_decode_str;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Why a request path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PathError {
    /// The path is malformed or tries to leave the root: a client error.
    #[error("path {0}")]
    Invalid(&'static str),
    /// Nothing servable is there (missing, a folder, hidden, or outside the root).
    #[error("not found")]
    NotFound,
}

/// Turns the request's path tail (as actix matched it, still partly
/// percent-encoded) into a relative path that names nothing outside its
/// folder. It does not touch the file system.
pub(crate) fn sanitize(tail: &str) -> Result<PathBuf, PathError> {
    let decoded = percent_decode_str(tail)
        .decode_utf8()
        .map_err(|_| PathError::Invalid("is not UTF-8 once decoded"))?;
    if decoded.contains('\0') {
        return Err(PathError::Invalid("contains a NUL byte"));
    }
    if decoded.contains('\\') {
        return Err(PathError::Invalid("contains a backslash"));
    }
    if decoded.starts_with('/') {
        return Err(PathError::Invalid("is absolute"));
    }
    let mut relative = PathBuf::new();
    for component in Path::new(decoded.as_ref()).components() {
        match component {
            Component::Normal(segment) => push_segment(&mut relative, segment)?,
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::Invalid("contains `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Invalid("is absolute"));
            }
        }
    }
    // `components` drops a trailing `/` and `.`, which would make
    // `site.css/` and `site.css/.` name `site.css`: nothing is served there.
    if relative.as_os_str().is_empty() || names_a_folder(&decoded) {
        return Err(PathError::NotFound);
    }
    Ok(relative)
}

/// Whether the decoded path ends in a `/` or a `.` segment: it names a
/// folder, never a file.
fn names_a_folder(decoded: &str) -> bool {
    decoded.ends_with('/') || decoded == "." || decoded.ends_with("/.")
}

/// Appends one plain segment; hidden files (a leading dot) are not served.
fn push_segment(relative: &mut PathBuf, segment: &std::ffi::OsStr) -> Result<(), PathError> {
    if segment.as_encoded_bytes().starts_with(b".") {
        return Err(PathError::NotFound);
    }
    relative.push(segment);
    Ok(())
}

/// How a path is resolved beneath the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolver {
    /// The kernel's `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`
    /// (Linux 5.6 and later), walking where it is unavailable or refuses an
    /// absolute symlink.
    Kernel,
    /// One `openat` with `O_NOFOLLOW` per component, from the root's folder
    /// down; symlinks are read and followed here, never by the kernel.
    Walk,
}

/// Most symlinks one path may go through, as the kernel's own limit.
const MAX_SYMLINKS: usize = 40;

/// Set once `openat2` turned out to be missing (`ENOSYS`: an old kernel, or
/// a seccomp filter that does not know it): every later open walks.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Folders on the way: only looked up in, never read.
#[cfg(any(target_os = "linux", target_os = "android"))]
const FOLDER: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// The file itself: read-only, and without blocking, since opening a FIFO
/// for reading would wait for a writer (it is refused once open).
const FILE: OFlags = OFlags::RDONLY
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY);

/// Opens the regular file that `relative` (from [`sanitize`]) names beneath
/// `root`, following symlinks only while they stay beneath it: the file
/// opened is the one checked, whatever is renamed meanwhile. Anything else
/// (missing, a folder, a FIFO, out of the root through a symlink) is
/// `NotFound`. Blocking.
pub(crate) fn open_file(root: &Path, relative: &Path) -> io::Result<(File, Metadata)> {
    let resolver = if NO_OPENAT2.load(Ordering::Relaxed) {
        Resolver::Walk
    } else {
        Resolver::Kernel
    };
    open_file_with(root, relative, resolver)
}

/// [`open_file`] with a chosen [`Resolver`].
pub(crate) fn open_file_with(
    root: &Path,
    relative: &Path,
    resolver: Resolver,
) -> io::Result<(File, Metadata)> {
    let root_fd = rustix::fs::open(root, FOLDER, Mode::empty()).map_err(not_servable)?;
    let fd = match resolver {
        Resolver::Kernel => beneath(root_fd.as_fd(), root, relative),
        Resolver::Walk => walk(root_fd.as_fd(), root, relative),
    }
    .map_err(not_servable)?;
    let file = File::from(fd);
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::ErrorKind::NotFound.into());
    }
    // Reads of a regular file never block; the flag only guarded the open.
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags.difference(OFlags::NONBLOCK))?;
    Ok((file, metadata))
}

/// What an error of resolution means to the client: out of the root, a
/// symlink loop, a magic link or a name too long is nothing servable.
fn not_servable(errno: Errno) -> io::Error {
    match errno {
        Errno::XDEV
        | Errno::LOOP
        | Errno::NAMETOOLONG
        | Errno::NOENT
        | Errno::NOTDIR
        | Errno::ISDIR
        | Errno::NXIO
        | Errno::NODEV => io::ErrorKind::NotFound.into(),
        other => other.into(),
    }
}

/// Opens `relative` with `openat2` confined beneath `root_fd`, or walks.
fn beneath(root_fd: BorrowedFd<'_>, root: &Path, relative: &Path) -> Result<OwnedFd, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let resolve = rustix::fs::ResolveFlags::BENEATH | rustix::fs::ResolveFlags::NO_MAGICLINKS;
        // EAGAIN: a rename elsewhere raced the lookup of a `..`; try again.
        for _ in 0..3 {
            match rustix::fs::openat2(root_fd, relative, FILE, Mode::empty(), resolve) {
                Err(Errno::AGAIN) => {}
                Err(Errno::NOSYS) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                    break;
                }
                // An absolute symlink leaves the root for openat2, even one
                // naming a file under it; and a seccomp filter may answer
                // EPERM for a call it does not know. The walk decides.
                Err(Errno::XDEV | Errno::PERM) => break,
                opened => return opened,
            }
        }
    }
    walk(root_fd, root, relative)
}

/// Resolves `relative` one component at a time from `root_fd`, each opened
/// with `O_NOFOLLOW` from the folder before it. A symlink's target is read
/// and resolved the same way: a relative one from where it is, an absolute
/// one only if it names a path under the root's real path; a `..` never
/// goes above the root.
fn walk(root_fd: BorrowedFd<'_>, root: &Path, relative: &Path) -> Result<OwnedFd, Errno> {
    let mut pending: VecDeque<OsString> = relative
        .components()
        .map(|component| component.as_os_str().to_owned())
        .collect();
    // The folders entered beneath the root, innermost last.
    let mut folders: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == "." {
            continue;
        }
        if name == ".." {
            folders.pop().ok_or(Errno::XDEV)?;
            continue;
        }
        let at = folders.last().map_or(root_fd, AsFd::as_fd);
        let flags = if pending.is_empty() { FILE } else { FOLDER };
        let err = match rustix::fs::openat(at, &name, flags | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) if pending.is_empty() => return Ok(fd),
            Ok(fd) => {
                folders.push(fd);
                continue;
            }
            Err(err) => err,
        };
        // O_NOFOLLOW refuses a symlink with ELOOP (ENOTDIR with O_DIRECTORY).
        if !matches!(err, Errno::LOOP | Errno::NOTDIR) {
            return Err(err);
        }
        let Ok(target) = rustix::fs::readlinkat(at, &name, Vec::new()) else {
            return Err(err);
        };
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(Errno::LOOP);
        }
        let mut target = PathBuf::from(OsString::from_vec(target.into_bytes()));
        if target.is_absolute() {
            let real_root = root.canonicalize().map_err(|_| Errno::XDEV)?;
            target = target
                .strip_prefix(&real_root)
                .map_err(|_| Errno::XDEV)?
                .to_path_buf();
            folders.clear();
        }
        for component in target.components().rev() {
            pending.push_front(component.as_os_str().to_owned());
        }
    }
    // Every component was `.` or `..`: a folder.
    Err(Errno::ISDIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_nested_paths_are_kept() {
        assert_eq!(sanitize("a/b.txt"), Ok(PathBuf::from("a/b.txt")));
        assert_eq!(sanitize("./a//b.txt"), Ok(PathBuf::from("a/b.txt")));
    }

    #[test]
    fn percent_encoded_names_are_decoded_once() {
        assert_eq!(sanitize("a%20b.txt"), Ok(PathBuf::from("a b.txt")));
        assert_eq!(sanitize("%252e%252e"), Ok(PathBuf::from("%2e%2e")));
    }

    #[test]
    fn traversal_is_refused() {
        for tail in [
            "..",
            "../x",
            "a/../../x",
            "..%2Fx",
            "%2e%2e/x",
            "a/%2E%2E%2fx",
        ] {
            assert_eq!(
                sanitize(tail),
                Err(PathError::Invalid("contains `..`")),
                "{tail}"
            );
        }
    }

    #[test]
    fn absolute_paths_are_refused() {
        for tail in ["/etc/passwd", "%2Fetc/passwd"] {
            assert_eq!(
                sanitize(tail),
                Err(PathError::Invalid("is absolute")),
                "{tail}"
            );
        }
    }

    #[test]
    fn nul_backslash_and_bad_utf8_are_refused() {
        assert_eq!(
            sanitize("a%00.txt"),
            Err(PathError::Invalid("contains a NUL byte"))
        );
        assert_eq!(
            sanitize("..%5cx"),
            Err(PathError::Invalid("contains a backslash"))
        );
        assert_eq!(
            sanitize("%ff"),
            Err(PathError::Invalid("is not UTF-8 once decoded"))
        );
    }

    #[test]
    fn hidden_and_empty_paths_are_not_found() {
        assert_eq!(sanitize(".env"), Err(PathError::NotFound));
        assert_eq!(sanitize("a/.git/config"), Err(PathError::NotFound));
        assert_eq!(sanitize(""), Err(PathError::NotFound));
        assert_eq!(sanitize("./"), Err(PathError::NotFound));
    }

    #[test]
    fn a_trailing_slash_or_dot_segment_after_a_name_is_not_found() {
        for tail in [
            "a.txt/",
            "a.txt/.",
            "a.txt/./",
            "a.txt//",
            "a.txt/%2e",
            "a.txt%2f",
            "a.txt%2F.",
            "sub/a.txt/.",
            ".",
            "sub/",
        ] {
            assert_eq!(sanitize(tail), Err(PathError::NotFound), "{tail}");
        }
        assert_eq!(sanitize("./a.txt"), Ok(PathBuf::from("a.txt")));
        assert_eq!(sanitize("sub/./a.txt"), Ok(PathBuf::from("sub/a.txt")));
    }

    /// Reads what `relative` names under `root` with `resolver`, or the
    /// kind of error.
    fn read(root: &Path, relative: &str, resolver: Resolver) -> Result<String, io::ErrorKind> {
        let (file, _) =
            open_file_with(root, Path::new(relative), resolver).map_err(|err| err.kind())?;
        std::io::read_to_string(file).map_err(|err| err.kind())
    }

    #[test]
    fn both_resolvers_follow_symlinks_only_while_they_stay_under_the_root() -> io::Result<()> {
        let outside = tempfile::tempdir()?;
        std::fs::write(outside.path().join("secret"), "secret")?;
        let root = tempfile::tempdir()?;
        std::fs::write(root.path().join("inside"), "inside")?;
        std::fs::create_dir(root.path().join("sub"))?;
        std::os::unix::fs::symlink(outside.path(), root.path().join("out"))?;
        std::os::unix::fs::symlink("inside", root.path().join("alias"))?;
        std::os::unix::fs::symlink("../inside", root.path().join("sub/up"))?;
        std::os::unix::fs::symlink("../../secret", root.path().join("sub/escape"))?;
        let real_root = root.path().canonicalize()?;
        std::os::unix::fs::symlink(real_root.join("inside"), root.path().join("absolute"))?;
        std::os::unix::fs::symlink(real_root.join("sub"), root.path().join("folder"))?;
        std::os::unix::fs::symlink("me", root.path().join("me"))?;
        let fifo = root.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()?
                .success()
        );
        let table = [
            ("inside", Ok("inside")),
            ("alias", Ok("inside")),
            ("sub/up", Ok("inside")),
            ("absolute", Ok("inside")),
            ("folder/up", Ok("inside")),
            ("out/secret", Err(io::ErrorKind::NotFound)),
            ("out", Err(io::ErrorKind::NotFound)),
            ("sub/escape", Err(io::ErrorKind::NotFound)),
            ("sub", Err(io::ErrorKind::NotFound)),
            ("folder", Err(io::ErrorKind::NotFound)),
            ("me", Err(io::ErrorKind::NotFound)),
            ("fifo", Err(io::ErrorKind::NotFound)),
            ("inside/x", Err(io::ErrorKind::NotFound)),
            ("missing", Err(io::ErrorKind::NotFound)),
        ];
        for resolver in [Resolver::Kernel, Resolver::Walk] {
            for (relative, expected) in &table {
                let expected = expected.map(str::to_owned);
                assert_eq!(
                    read(root.path(), relative, resolver),
                    expected,
                    "{resolver:?} {relative}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn a_file_opened_beneath_the_root_reads_without_blocking_flags() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        std::fs::write(root.path().join("a"), "a")?;
        for resolver in [Resolver::Kernel, Resolver::Walk] {
            let (file, metadata) = open_file_with(root.path(), Path::new("a"), resolver)?;
            assert!(metadata.is_file());
            let flags = rustix::fs::fcntl_getfl(&file)?;
            assert!(!flags.contains(OFlags::NONBLOCK), "{resolver:?}");
        }
        Ok(())
    }
}
